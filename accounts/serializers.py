"""Request and response bodies of the auth and user endpoints."""

from typing import Any

from rest_framework import serializers

from accounts.models import RefreshTokenFamily, Role, User
from common.fields import StrictBooleanField, StrictCharField, StrictEmailField

# Long enough for any passphrase, short enough that hashing it cannot be used to exhaust the CPU.
PASSWORD_MAX_LENGTH = 1024


def password_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(
        write_only=True,
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
        **kwargs,
    )


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "email", "full_name", "role", "is_active", "email_verified_at", "date_joined", "last_login")
        read_only_fields = fields

    def to_representation(self, instance: User) -> dict[str, Any]:
        """The fields of `Meta.fields` in one step (the same JSON as DRF's fields, see the tests)."""
        return {
            "id": instance.pk,
            "email": instance.email,
            "full_name": instance.full_name,
            "role": instance.role,
            "is_active": instance.is_active,
            "email_verified_at": instance.email_verified_at,
            "date_joined": instance.date_joined,
            "last_login": instance.last_login,
        }


class UserCreateSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    password = password_field()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.USER)
    full_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")


class UserUpdateSerializer(serializers.Serializer):
    """What an admin may change on any account."""

    email = StrictEmailField(max_length=254, required=False)
    full_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = StrictBooleanField(required=False)


class ProfileUpdateSerializer(serializers.Serializer):
    """What users may change on their own account: their name, and their email through a link
    mailed to the new address; nothing that grants access."""

    full_name = StrictCharField(max_length=150, allow_blank=True, required=False)
    email = StrictEmailField(
        max_length=254,
        required=False,
        help_text="Changes only when the link mailed to this address is followed; until then the email stays.",
    )


class AccountDeleteSerializer(serializers.Serializer):
    password = password_field(help_text="The account's current password.")


class SignupSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    password = password_field()
    full_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")


class SignedLinkSerializer(serializers.Serializer):
    """The `uid` and `token` of a mailed link."""

    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=512)


class EmailVerificationSerializer(SignedLinkSerializer):
    """The `uid` and `token` of a verification link."""


class EmailChangeConfirmSerializer(SignedLinkSerializer):
    """The `uid` and `token` of an email-change link."""


class PasswordChangeSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field()


class LoginSerializer(serializers.Serializer):
    """The earlier template's OAuth2 password form: `username` is the email (`email` also works).

    The email is not validated as an address here: a malformed one must fail exactly like an
    unknown one, with 401.
    """

    username = StrictCharField(max_length=254, required=False, help_text="The account's email.")
    email = StrictCharField(max_length=254, required=False, help_text="Same as `username`.")
    password = password_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        email = attrs.get("username") or attrs.get("email")
        if not email:
            raise serializers.ValidationError({"username": "This field is required."})
        return {"email": email, "password": attrs["password"]}


class LoginFormSerializer(LoginSerializer):
    """The login body, form-encoded (`username=...&password=...`), as the earlier template's clients send it."""


class RefreshTokenSerializer(serializers.Serializer):
    refresh_token = StrictCharField(max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(help_text='Always `"bearer"`.')
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)


class VerificationResendSerializer(PasswordResetRequestSerializer):
    """The email to mail a new verification link to."""


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=128)
    new_password = password_field()


class SessionSerializer(serializers.ModelSerializer):
    """A live session, as of its last login or refresh. `current`: the one of the presented token."""

    current = serializers.SerializerMethodField()

    class Meta:
        model = RefreshTokenFamily
        fields = ("id", "created_at", "last_used_at", "user_agent", "ip_address", "current")
        read_only_fields = fields

    def get_current(self, session: RefreshTokenFamily) -> bool:
        return bool(session.pk == self.context.get("current_session_id"))
