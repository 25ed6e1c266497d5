"""What every accounts endpoint shares: the services' auth errors answered as HTTP, in one place."""

from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import AuthenticationError, RateLimitedError


class AccountsAPIView(APIView):
    """An `APIView` whose services may refuse with `AuthenticationError` (401) or `RateLimitedError` (429)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, AuthenticationError):
            exc = AuthenticationFailed(exc.detail, code=exc.code)
        elif isinstance(exc, RateLimitedError):
            exc = Throttled(wait=exc.wait)
        return super().handle_exception(exc)
