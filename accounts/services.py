"""Business rules that change accounts. Each function owns its transaction.

The auth flows take what the client sent (an email and password, a raw refresh token) and do the
rest here: decoding, rate-limit accounting, revocation and the security log. They refuse with one
of two errors, which the views turn into HTTP answers: `AuthenticationError` (401) and
`RateLimitedError` (429).
"""

import logging

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.tasks import Task
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import jobs, tokens
from accounts.events import Channel, Event, security_event
from accounts.models import RefreshTokenFamily, RevocationReason, Role, User
from accounts.throttling import LoginFailureThrottle, password_reset_retry_after, refresh_retry_after
from accounts.tokens import TokenPair
from common.client import Client

logger = logging.getLogger(__name__)

DUPLICATE_EMAIL = "A user with this email already exists."
LAST_ADMIN_DEMOTE = "The last active admin cannot be demoted: promote another admin first."
LAST_ADMIN_DEACTIVATE = "The last active admin cannot be deactivated: promote another admin first."
WRONG_PASSWORD = "The current password is incorrect."
INVALID_RESET_LINK = "The reset link is invalid or has expired."
INVALID_CREDENTIALS = "Incorrect email or password."
INVALID_REFRESH_TOKEN = "The refresh token is invalid, expired or revoked."


class AuthenticationError(Exception):
    """Credentials or a token refused. Wrong password, unknown email and inactive account are
    deliberately one and the same error."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class RateLimitedError(Exception):
    """Too many attempts: retry after `wait` seconds."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"rate limited for {wait} s")
        self.wait = wait


def _invalid_credentials() -> AuthenticationError:
    return AuthenticationError(INVALID_CREDENTIALS, "invalid_credentials")


def _invalid_refresh_token() -> AuthenticationError:
    return AuthenticationError(INVALID_REFRESH_TOKEN, "token_not_valid")


def auth_authenticate(*, email: str, password: str, client: Client, channel: Channel) -> User:
    """The active user these credentials belong to, counting failures like every login does.

    Failures are limited per account and client address and per client address, in counters every
    process shares; over a limit the password is not even hashed. An unknown email still costs one
    password hash, so response time does not tell which emails have an account.
    """
    email = User.objects.normalize_email(email)
    failures = LoginFailureThrottle(email=email, address=client.address)
    wait = failures.attempt()
    if wait is not None:
        security_event(Event.LOGIN_THROTTLED, user_id=None, channel=channel)
        raise RateLimitedError(wait)
    user = User.objects.with_email(email).first()
    if user is None:
        make_password(password)
        security_event(Event.LOGIN_FAILED, user_id=None, channel=channel)
        raise _invalid_credentials()
    if not user.check_password(password) or not user.is_active:
        security_event(Event.LOGIN_FAILED, user_id=user.pk, channel=channel)
        raise _invalid_credentials()
    failures.succeeded()
    return user


def admin_authenticate(*, email: str, password: str, client: Client) -> User:
    """The admin these credentials belong to, for the admin site's login (same limits as the API's).

    A user who is not an admin gets the same refusal as a wrong password.
    """
    user = auth_authenticate(email=email, password=password, client=client, channel=Channel.ADMIN)
    if not user.is_staff:
        raise _invalid_credentials()
    security_event(Event.LOGIN_SUCCEEDED, user_id=user.pk, channel=Channel.ADMIN)
    return user


def auth_login(*, email: str, password: str, client: Client) -> TokenPair:
    """Check credentials and open a session (a new refresh-token family)."""
    user = auth_authenticate(email=email, password=password, client=client, channel=Channel.API)
    user.last_login = timezone.now()
    with transaction.atomic():
        user.save(update_fields=["last_login"])
        pair = tokens.issue_token_pair(user, client=client)
    security_event(Event.LOGIN_SUCCEEDED, user_id=user.pk, channel=Channel.API)
    return pair


def auth_refresh(*, refresh_token: str, client: Client) -> TokenPair:
    """Trade a raw refresh token for a new pair; a reused one revokes its family and is logged as theft."""
    refresh = _decode_refresh_token(refresh_token)
    wait = refresh_retry_after(tokens.token_user_id(refresh))
    if wait is not None:
        raise RateLimitedError(wait)
    try:
        return tokens.rotate_refresh_token(refresh, client=client)
    except tokens.TokenReuseError as exc:
        _log_reuse(exc)
        raise _invalid_refresh_token() from exc
    except tokens.InvalidTokenError as exc:
        raise _invalid_refresh_token() from exc


def auth_logout(*, refresh_token: str) -> None:
    """End the session of a raw refresh token. An already-rotated token is reuse, as for a refresh."""
    refresh = _decode_refresh_token(refresh_token)
    try:
        family = tokens.revoke_family(refresh, RevocationReason.LOGOUT)
    except tokens.TokenReuseError as exc:
        _log_reuse(exc)
        raise _invalid_refresh_token() from exc
    except tokens.InvalidTokenError as exc:
        raise _invalid_refresh_token() from exc
    security_event(Event.LOGOUT, user_id=family.user_id, family_id=family.pk)


def auth_logout_all(*, user: User, by: User | None = None) -> int:
    """End every session of `user` and refuse all their access tokens at once. Returns how many
    sessions were live. `by` is the admin who asked, if not the user."""
    reason = RevocationReason.LOGOUT_ALL if by is None or by.pk == user.pk else RevocationReason.ADMIN
    with transaction.atomic():
        ended = tokens.revoke_all_tokens(user, reason)
        user.save(update_fields=["token_version"])
    security_event(Event.LOGOUT_ALL, user_id=user.pk, sessions=ended, by=by.pk if by is not None else None)
    return ended


def session_end(*, session: RefreshTokenFamily) -> None:
    """End one session (from the user's list): its refresh and access tokens are refused at once."""
    if tokens.revoke_session(session, RevocationReason.SESSION_END):
        security_event(Event.SESSION_ENDED, user_id=session.user_id, family_id=session.pk)


def _decode_refresh_token(refresh_token: str) -> RefreshToken:
    try:
        return tokens.decode_refresh_token(refresh_token)
    except tokens.InvalidTokenError as exc:
        raise _invalid_refresh_token() from exc


def _log_reuse(error: tokens.TokenReuseError) -> None:
    security_event(Event.REFRESH_REUSE_DETECTED, user_id=error.family.user_id, family_id=error.family.pk)


def user_create(
    *, email: str, password: str, role: Role = Role.USER, full_name: str = "", welcome: bool = False
) -> User:
    """Create an account; `welcome` mails the new user (in the background, once committed)."""
    user = User(email=User.objects.normalize_email(email), full_name=full_name, role=role)
    if User.objects.with_email(user.email).exists():
        raise ValidationError({"email": DUPLICATE_EMAIL})
    _set_password(user, password, field="password")
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # the same email registered concurrently
        raise ValidationError({"email": DUPLICATE_EMAIL}) from exc
    if welcome:
        user_welcome(user=user)
    return user


def user_welcome(*, user: User) -> None:
    """Mail a new user their welcome message, in the background once the transaction commits."""
    _enqueue_on_commit(jobs.send_welcome_email, user.pk)


def user_update(
    *,
    user: User,
    by: User | None = None,
    email: str | None = None,
    full_name: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> User:
    """Change an account; `None` leaves a field as it is. `by` is who asked, for the security log.

    Demoting or deactivating an admin locks every active admin row first, so two admins demoting
    each other at the same moment cannot leave the system without one. Deactivation ends every
    session of the user and refuses their access tokens at once.
    """
    changed: list[str] = []
    previous_role = user.role
    with transaction.atomic():
        ensure_an_admin_remains(user=user, role=role, is_active=is_active)
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
                tokens.revoke_all_tokens(user, RevocationReason.DEACTIVATION)
                changed.append("token_version")
        if changed:
            try:
                with transaction.atomic():
                    user.save(update_fields=changed)
            except IntegrityError as exc:
                raise ValidationError({"email": DUPLICATE_EMAIL}) from exc
    actor_id = by.pk if by is not None else None
    if "role" in changed:
        security_event(Event.ROLE_CHANGED, user_id=user.pk, by=actor_id, old_role=previous_role, new_role=user.role)
    if "token_version" in changed:
        security_event(Event.USER_DEACTIVATED, user_id=user.pk, by=actor_id)
    return user


def user_deactivate(*, user: User, by: User | None = None) -> User:
    """Deactivate instead of deleting: the row and everything the user owns stay."""
    return user_update(user=user, by=by, is_active=False)


def user_change_password(*, user: User, current_password: str, new_password: str, client: Client) -> User:
    """Set a new password after checking the current one; every session and token is revoked.

    A wrong current password counts as a failed login of the account (the same limits), so a
    stolen access token cannot be turned into the password by guessing.
    """
    failures = LoginFailureThrottle(email=user.email, address=client.address)
    wait = failures.attempt()
    if wait is not None:
        security_event(Event.LOGIN_THROTTLED, user_id=user.pk, channel=Channel.PASSWORD_CHANGE)
        raise RateLimitedError(wait)
    if not user.check_password(current_password):
        security_event(Event.PASSWORD_CHANGE_FAILED, user_id=user.pk)
        raise ValidationError({"current_password": WRONG_PASSWORD})
    failures.succeeded()
    _set_password(user, new_password, field="new_password")
    return user_save_new_password(user=user)


def user_save_new_password(*, user: User, reason: RevocationReason = RevocationReason.PASSWORD_CHANGE) -> User:
    """Store a password just set on `user` (`set_password`), ending every session and token it had."""
    with transaction.atomic():
        tokens.revoke_all_tokens(user, reason)
        user.save(update_fields=["password", "token_version"])
    event = Event.PASSWORD_RESET if reason == RevocationReason.PASSWORD_RESET else Event.PASSWORD_CHANGED
    security_event(event, user_id=user.pk)
    return user


def password_reset_request(*, email: str) -> None:
    """Mail a single-use reset link if an active account has this email; do nothing otherwise.

    At most `THROTTLE_PASSWORD_RESET_PER_EMAIL` mails per email, whoever asks, so a mailbox cannot
    be flooded. The caller answers the same in every case, so the answer tells neither who has an
    account nor whether the limit was reached.
    """
    email = User.objects.normalize_email(email)
    if password_reset_retry_after(email) is not None:
        security_event(Event.PASSWORD_RESET_THROTTLED, user_id=None)
        return
    user = User.objects.active().with_email(email).first()
    if user is None:
        security_event(Event.PASSWORD_RESET_REQUESTED, user_id=None)
        return
    security_event(Event.PASSWORD_RESET_REQUESTED, user_id=user.pk)
    _enqueue_on_commit(jobs.send_password_reset_email, user.pk)


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Set a new password from a reset link's `uid` and `token`.

    Django's token generator signs the user's password hash and last login into the token, so it
    works once, and not at all once the password has changed some other way, or after
    `PASSWORD_RESET_TIMEOUT`.
    """
    with transaction.atomic():
        # The row lock makes two uses of one link at the same moment take turns: the second sees
        # the new password hash, which no longer matches its token.
        user = _user_from_uid(uid, lock=True)
        if user is None or not user.is_active or not default_token_generator.check_token(user, token):
            raise ValidationError({"token": INVALID_RESET_LINK})
        _set_password(user, new_password, field="new_password")
        return user_save_new_password(user=user, reason=RevocationReason.PASSWORD_RESET)


def _enqueue_on_commit(job: Task[..., None], user_id: int) -> None:
    """Queue a mail job once the transaction commits; queueing must never fail the request."""

    def enqueue() -> None:
        try:
            job.enqueue(user_id=user_id)
        except Exception:
            logger.exception("could not queue %s for user %s", job.name, user_id)

    transaction.on_commit(enqueue)


def _user_from_uid(uid: str, *, lock: bool = False) -> User | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    if not 0 < pk < 2**63:
        return None
    users = User.objects.select_for_update() if lock else User.objects.all()
    return users.filter(pk=pk).first()


def _set_password(user: User, password: str, *, field: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc
    user.set_password(password)


def ensure_an_admin_remains(*, user: User, role: Role | None, is_active: bool | None) -> None:
    """Refuse to demote or deactivate the last active admin (a `ValidationError` naming the field).

    Inside a transaction the active admins' rows are locked, so two admins demoting each other at
    the same moment take turns and the second is refused.
    """
    demoting = role is not None and role != Role.ADMIN
    if not demoting and is_active is not False:
        return
    active_admin_ids = list(
        User.objects.active_admins().select_for_update().order_by("id").values_list("id", flat=True)
    )
    if active_admin_ids == [user.pk]:
        if demoting:
            raise ValidationError({"role": LAST_ADMIN_DEMOTE})
        raise ValidationError({"is_active": LAST_ADMIN_DEACTIVATE})
