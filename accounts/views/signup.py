"""HTTP endpoints for self-service accounts: sign up, verify the email, confirm an email change."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.serializers import (
    EmailChangeConfirmSerializer,
    EmailVerificationSerializer,
    SignupSerializer,
    TokenPairSerializer,
    UserSerializer,
    VerificationResendSerializer,
)
from accounts.views.auth import TokenEndpoint, throttled_response
from accounts.views.base import accepted, accepted_response, validated
from common.client import client_of
from common.openapi import ErrorSerializer, ValidationErrorSerializer
from common.throttling import AddressRateThrottle

SIGNUP_ACCEPTED = "If this email can be used, a message with the next step has been sent to it."
RESEND_ACCEPTED = "If an unverified account has this email, a new verification link has been sent to it."

_bad_link = OpenApiResponse(ValidationErrorSerializer, description="The link is invalid, expired or already used.")
_signup_off = OpenApiResponse(ErrorSerializer, description="Sign-up is turned off (`SIGNUP_ENABLED`).")


class SignupEndpoint(TokenEndpoint):
    """Base for the sign-up endpoints: they answer 404 while `SIGNUP_ENABLED` is off."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not settings.SIGNUP_ENABLED:
            raise NotFound
        super().initial(request, *args, **kwargs)


class SignupView(SignupEndpoint):
    """Sign up with an email and a password. The answer is the same whether or not the email is
    taken: a new email gets a verification link, a taken one a warning to its owner."""

    throttle_classes = (AddressRateThrottle,)
    throttle_scope = "signup"

    @extend_schema(
        tags=["auth"],
        summary="Sign up; a verification link is mailed",
        request=SignupSerializer,
        responses={
            202: accepted_response,
            400: OpenApiResponse(ValidationErrorSerializer, description="A field is invalid (e.g. a weak password)."),
            404: _signup_off,
            429: throttled_response,
        },
    )
    def post(self, request: Request) -> Response:
        services.user_signup(**validated(SignupSerializer, request))
        return accepted(SIGNUP_ACCEPTED)


class EmailVerificationView(SignupEndpoint):
    """Verify the email with the `uid` and `token` of the mailed link; this logs the user in."""

    @extend_schema(
        tags=["auth"],
        summary="Verify the email from a verification link, and log in",
        request=EmailVerificationSerializer,
        responses={200: TokenPairSerializer, 400: _bad_link, 404: _signup_off},
    )
    def post(self, request: Request) -> Response:
        pair = services.email_verify(**validated(EmailVerificationSerializer, request), client=client_of(request))
        return self.token_response(request, pair)


class VerificationResendView(SignupEndpoint):
    """Mail a new verification link. The answer is the same whatever the email."""

    throttle_classes = (AddressRateThrottle,)
    throttle_scope = "verification_resend"

    @extend_schema(
        tags=["auth"],
        summary="Mail a new verification link",
        request=VerificationResendSerializer,
        responses={202: accepted_response, 404: _signup_off, 429: throttled_response},
    )
    def post(self, request: Request) -> Response:
        services.email_verification_resend(email=validated(VerificationResendSerializer, request)["email"])
        return accepted(RESEND_ACCEPTED)


class EmailChangeConfirmView(TokenEndpoint):
    """Apply an email change with the `uid` and `token` of the link mailed to the new address."""

    @extend_schema(
        tags=["auth"],
        summary="Change the account's email from the link mailed to the new address",
        request=EmailChangeConfirmSerializer,
        responses={200: UserSerializer, 400: _bad_link},
    )
    def post(self, request: Request) -> Response:
        user = services.email_change_confirm(**validated(EmailChangeConfirmSerializer, request))
        return Response(UserSerializer(user).data)
