from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import Token

from accounts.tokens import InvalidTokenError, decode_access_token, user_for_access_token

INVALID_TOKEN_MESSAGE = "The access token is invalid or expired."


class BearerTokenAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access token>`, checked against the user's current state.

    One query loads the user and the state of the token's session; the token is refused when the
    session has ended (logout, logout-all, ended from the session list), the user was deactivated
    or revoked all tokens (password change) after it was issued, or any of its claims is malformed.
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        try:
            return decode_access_token(raw_token)
        except InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE, code="token_not_valid") from exc

    def get_user(self, validated_token: Token) -> Any:
        try:
            return user_for_access_token(validated_token)
        except InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE, code="token_not_valid") from exc
