"""What every accounts endpoint shares: the services' auth errors answered as HTTP, in one place."""

from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import AuthenticationError, EmailNotVerifiedError, RateLimitedError

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
