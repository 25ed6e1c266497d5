"""Business rules that change accounts. Each function owns its transaction."""

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.tokens import TokenPair, issue_token_pair, revoke_all_tokens

DUPLICATE_EMAIL = "A user with this email already exists."
LAST_ADMIN_DEMOTE = "The last active admin cannot be demoted: promote another admin first."
LAST_ADMIN_DEACTIVATE = "The last active admin cannot be deactivated: promote another admin first."
WRONG_PASSWORD = "The current password is incorrect."


class InvalidCredentialsError(Exception):
    """Wrong password, unknown email or inactive account: deliberately indistinguishable."""


def auth_login(*, email: str, password: str) -> TokenPair:
    """Check credentials and open a session as a token pair.

    An unknown email still costs one password hash, so response time does not tell which emails
    have an account.
    """
    user = User.objects.with_email(email).first()
    if user is None:
        make_password(password)
        raise InvalidCredentialsError
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentialsError
    user.last_login = timezone.now()
    with transaction.atomic():
        user.save(update_fields=["last_login"])
        return issue_token_pair(user)


def user_create(*, email: str, password: str, role: Role = Role.USER, full_name: str = "") -> User:
    user = User(email=User.objects.normalize_email(email), full_name=full_name, role=role)
    if User.objects.with_email(user.email).exists():
        raise ValidationError({"email": DUPLICATE_EMAIL})
    _set_password(user, password, field="password")
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # the same email registered concurrently
        raise ValidationError({"email": DUPLICATE_EMAIL}) from exc
    return user


def user_update(
    *,
    user: User,
    email: str | None = None,
    full_name: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> User:
    """Change an account; `None` leaves a field as it is.

    Demoting or deactivating an admin locks every active admin row first, so two admins demoting
    each other at the same moment cannot leave the system without one.
    """
    changed: list[str] = []
    with transaction.atomic():
        leaves_admins = (role is not None and role != Role.ADMIN) or is_active is False
        if leaves_admins:
            _ensure_not_last_admin(user, demoting=role is not None and role != Role.ADMIN)
        if email is not None and User.objects.normalize_email(email) != user.email:
            user.email = User.objects.normalize_email(email)
            if User.objects.with_email(user.email).exclude(pk=user.pk).exists():
                raise ValidationError({"email": DUPLICATE_EMAIL})
            changed.append("email")
        if full_name is not None and full_name != user.full_name:
            user.full_name = full_name
            changed.append("full_name")
        if role is not None and role != user.role:
            user.role = role
            changed.append("role")
        if is_active is not None and is_active != user.is_active:
            user.is_active = is_active
            changed.append("is_active")
            if not is_active:
                revoke_all_tokens(user)
                changed.append("token_version")
        if changed:
            try:
                with transaction.atomic():
                    user.save(update_fields=changed)
            except IntegrityError as exc:
                raise ValidationError({"email": DUPLICATE_EMAIL}) from exc
    return user


def user_deactivate(*, user: User) -> User:
    """Deactivate instead of deleting: the row and everything the user owns stay."""
    return user_update(user=user, is_active=False)


def user_change_password(*, user: User, current_password: str, new_password: str) -> User:
    """Set a new password after checking the current one; every earlier token is refused."""
    if not user.check_password(current_password):
        raise ValidationError({"current_password": WRONG_PASSWORD})
    _set_password(user, new_password, field="new_password")
    revoke_all_tokens(user)
    user.save(update_fields=["password", "token_version"])
    return user


def _set_password(user: User, password: str, *, field: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc
    user.set_password(password)


def _ensure_not_last_admin(user: User, *, demoting: bool) -> None:
    active_admin_ids = list(
        User.objects.active_admins().select_for_update().order_by("id").values_list("id", flat=True)
    )
    if active_admin_ids == [user.pk]:
        if demoting:
            raise ValidationError({"role": LAST_ADMIN_DEMOTE})
        raise ValidationError({"is_active": LAST_ADMIN_DEACTIVATE})
