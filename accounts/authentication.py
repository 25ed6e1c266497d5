from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, Token

from accounts.tokens import InvalidTokenError, user_for_token

INVALID_TOKEN_MESSAGE = "The access token is invalid or expired."


class BearerTokenAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access token>`, checked against the user's current state.

    One query loads the user; the token is refused when the user was deactivated or revoked all
    tokens (password change) after it was issued.
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        try:
            return AccessToken(raw_token)  # type: ignore[arg-type]
        except TokenError as exc:
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE, code="token_not_valid") from exc

    def get_user(self, validated_token: Token) -> Any:
        try:
            return user_for_token(validated_token)
        except InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE, code="token_not_valid") from exc
