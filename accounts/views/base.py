"""What every accounts endpoint shares: the body parsed by a serializer, the services' auth errors
answered as HTTP, in one place."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts.services import AuthenticationError, EmailNotVerifiedError, RateLimitedError
from common.openapi import MessageSerializer

EMAIL_NOT_VERIFIED = "Verify your email first: follow the link mailed to you, or ask for a new one."


class AccountsAPIView(APIView):
    """An `APIView` whose services may refuse with `AuthenticationError` (401), `RateLimitedError`
    (429) or `EmailNotVerifiedError` (403)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, AuthenticationError):
            exc = AuthenticationFailed(exc.detail, code=exc.code)
        elif isinstance(exc, RateLimitedError):
            exc = Throttled(wait=exc.wait)
        elif isinstance(exc, EmailNotVerifiedError):
            exc = PermissionDenied(EMAIL_NOT_VERIFIED, code="email_not_verified")
        return super().handle_exception(exc)


def validated(serializer_class: type[Serializer[Any]], request: Request, *, partial: bool = False) -> dict[str, Any]:
    """The request's body as `serializer_class` validates it, ready for a service; a 400 naming each
    failing field otherwise."""
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def accepted(detail: str) -> Response:
    """The 202 of a request whose outcome is not told (sign-up, resend, reset): the same body either way."""
    return Response({"detail": detail, "code": "accepted"}, status=status.HTTP_202_ACCEPTED)


accepted_response = OpenApiResponse(MessageSerializer, description="Accepted; the same answer whatever the email.")
