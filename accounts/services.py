"""Business rules that change accounts. Each function owns its transaction.

The auth flows take what the client sent (an email and password, a raw refresh token) and do the
rest here: decoding, rate-limit accounting, revocation and the security log. They refuse with one
of two errors, which the views turn into HTTP answers: `AuthenticationError` (401) and
`RateLimitedError` (429).
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.tasks import Task
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import jobs, links, tokens
from accounts.events import Channel, Event, security_event
from accounts.models import RefreshTokenFamily, RevocationReason, Role, User
from accounts.throttling import LoginFailureThrottle, password_reset_retry_after, refresh_retry_after
from accounts.tokens import TokenPair
from common.client import Client

logger = logging.getLogger(__name__)

DUPLICATE_EMAIL = "A user with this email already exists."
LAST_ADMIN_DEMOTE = "The last active admin cannot be demoted: promote another admin first."
LAST_ADMIN_DEACTIVATE = "The last active admin cannot be deactivated: promote another admin first."
LAST_ADMIN_DELETE = "The last active admin cannot delete their account: promote another admin first."
WRONG_PASSWORD = "The current password is incorrect."
INVALID_RESET_LINK = "The reset link is invalid or has expired."
INVALID_CREDENTIALS = "Incorrect email or password."
INVALID_REFRESH_TOKEN = "The refresh token is invalid, expired or revoked."
INVALID_VERIFICATION_LINK = "The verification link is invalid, expired or already used."
INVALID_EMAIL_CHANGE_LINK = "The email-change link is invalid, expired or already used."


class AuthenticationError(Exception):
    """Credentials or a token refused. Wrong password, unknown email and inactive account are
    deliberately one and the same error."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class EmailNotVerifiedError(Exception):
    """The password is right but the account's email has not been verified yet (a 403, told only
    to whoever knows the password, so it reveals nothing about who has an account)."""


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
    if not user.is_verified:
        raise EmailNotVerifiedError
    return _open_session(user, client=client)


def _open_session(user: User, *, client: Client) -> TokenPair:
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
    *,
    email: str,
    password: str,
    role: Role = Role.USER,
    full_name: str = "",
    welcome: bool = False,
    verified: bool = True,
) -> User:
    """Create an account; `welcome` mails the new user (in the background, once committed).

    An account made by an admin counts as verified; sign-up makes unverified ones.
    """
    user = User(
        email=User.objects.normalize_email(email),
        full_name=full_name,
        role=role,
        email_verified_at=timezone.now() if verified else None,
    )
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


def user_signup(*, email: str, password: str, full_name: str = "") -> None:
    """Sign up: a new, unverified account and a verification mail, or a warning to the owner of a
    taken email. The caller answers the same either way, so sign-up tells nobody who has an account.

    The password is checked before the email is looked up, and a taken email still costs one
    password hash, so neither the answer nor its timing differ.
    """
    candidate = User(email=User.objects.normalize_email(email), full_name=full_name)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    existing = User.objects.with_email(candidate.email).first()
    if existing is None:
        try:
            user = user_create(email=email, password=password, full_name=full_name, verified=False)
        except ValidationError:  # the same email signed up concurrently
            existing = User.objects.with_email(candidate.email).first()
        else:
            security_event(Event.SIGNED_UP, user_id=user.pk)
            _enqueue_on_commit(jobs.send_verification_email, user_id=user.pk)
            return
    else:
        make_password(password)
    if existing is not None:
        security_event(Event.SIGNUP_EMAIL_TAKEN, user_id=existing.pk)
        _enqueue_on_commit(jobs.send_signup_attempt_email, user_id=existing.pk)


def email_verify(*, uid: str, token: str, client: Client) -> TokenPair:
    """Mark the email of a verification link's account verified, and log its owner in."""
    with transaction.atomic():
        user = _user_from_uid(uid, lock=True)
        if user is None or not user.is_active or not links.verification_holds(user, token):
            raise ValidationError({"token": INVALID_VERIFICATION_LINK})
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    security_event(Event.EMAIL_VERIFIED, user_id=user.pk)
    return _open_session(user, client=client)


def email_verification_resend(*, email: str) -> None:
    """Mail a new verification link if an active, unverified account has this email; else nothing."""
    user = User.objects.active().with_email(email).filter(email_verified_at__isnull=True).first()
    if user is not None:
        _enqueue_on_commit(jobs.send_verification_email, user_id=user.pk)


def user_update_profile(*, user: User, full_name: str | None = None, email: str | None = None) -> User:
    """What users change on their own account: the name at once; the email only through a link
    mailed to the new address (see `email_change_confirm`).

    A new email that another account has gets no mail and no error, so the answer does not tell
    which addresses have accounts.
    """
    if full_name is not None:
        user = user_update(user=user, full_name=full_name)
    new_email = User.objects.normalize_email(email) if email is not None else None
    if new_email and new_email != user.email:
        security_event(Event.EMAIL_CHANGE_REQUESTED, user_id=user.pk)
        if not User.objects.with_email(new_email).exists():
            _enqueue_on_commit(jobs.send_email_change_email, user_id=user.pk, new_email=new_email)
    return user


def email_change_confirm(*, uid: str, token: str) -> User:
    """Apply the email change an email-change link asks for; the old address is told.

    The link states the account's email when it was made, so it works once.
    """
    with transaction.atomic():
        user = _user_from_uid(uid, lock=True)
        new_email = links.email_change_target(user, token) if user is not None and user.is_active else None
        if user is None or new_email is None:
            raise ValidationError({"token": INVALID_EMAIL_CHANGE_LINK})
        old_email = user.email
        user = user_update(user=user, email=new_email)
        if not user.is_verified:  # following the link proves the new address is the user's
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
    security_event(Event.EMAIL_CHANGED, user_id=user.pk)
    _enqueue_on_commit(jobs.send_email_changed_notice, user_id=user.pk, old_email=old_email)
    return user


def user_delete_self(*, user: User, password: str, client: Client) -> None:
    """Delete one's own account: deactivated at once (every session ends), erased by the
    maintenance job after `ACCOUNT_DELETION_GRACE_DAYS` (see `users_erase_deleted`)."""
    _check_current_password(user, password, client=client, field="password", channel=Channel.ACCOUNT_DELETION)
    with transaction.atomic():
        try:
            ensure_an_admin_remains(user=user, role=None, is_active=False)
        except ValidationError as exc:
            raise ValidationError(LAST_ADMIN_DELETE) from exc
        user_update(user=user, by=user, is_active=False)
        user.deletion_requested_at = timezone.now()
        user.save(update_fields=["deletion_requested_at"])
    security_event(Event.ACCOUNT_DELETION_REQUESTED, user_id=user.pk)


def users_erase_deleted(*, now: datetime | None = None) -> int:
    """Erase the accounts deleted more than the grace period ago, with everything they own
    (their tasks and sessions go with the row). Returns how many were erased."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS)
    erased = 0
    for user_id in User.objects.deleted_before(cutoff).values_list("pk", flat=True):
        User.objects.filter(pk=user_id).delete()
        security_event(Event.ACCOUNT_ERASED, user_id=user_id)
        erased += 1
    return erased


def user_welcome(*, user: User) -> None:
    """Mail a new user their welcome message, in the background once the transaction commits."""
    _enqueue_on_commit(jobs.send_welcome_email, user_id=user.pk)


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
            if is_active and user.deletion_requested_at is not None:
                # Reactivated within the grace period: the account is no longer to be erased.
                user.deletion_requested_at = None
                changed.append("deletion_requested_at")
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
    _check_current_password(
        user, current_password, client=client, field="current_password", channel=Channel.PASSWORD_CHANGE
    )
    _set_password(user, new_password, field="new_password")
    return user_save_new_password(user=user)


def _check_current_password(user: User, password: str, *, client: Client, field: str, channel: Channel) -> None:
    """Refuse a wrong current password (a `ValidationError` naming `field`), counting it as a
    failed login of the account: a stolen access token cannot find the password by guessing."""
    failures = LoginFailureThrottle(email=user.email, address=client.address)
    wait = failures.attempt()
    if wait is not None:
        security_event(Event.LOGIN_THROTTLED, user_id=user.pk, channel=channel)
        raise RateLimitedError(wait)
    if not user.check_password(password):
        failed = Event.PASSWORD_CHANGE_FAILED if channel == Channel.PASSWORD_CHANGE else Event.LOGIN_FAILED
        security_event(failed, user_id=user.pk, channel=channel)
        raise ValidationError({field: WRONG_PASSWORD})
    failures.succeeded()


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
    _enqueue_on_commit(jobs.send_password_reset_email, user_id=user.pk)


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


def _enqueue_on_commit(job: Task[..., None], **job_args: Any) -> None:
    """Queue a mail job once the transaction commits; queueing must never fail the request."""

    def enqueue() -> None:
        try:
            job.enqueue(**job_args)
        except Exception:
            logger.exception("could not queue %s for user %s", job.name, job_args.get("user_id"))

    transaction.on_commit(enqueue)


def _user_from_uid(uid: str, *, lock: bool = False) -> User | None:
    pk = links.user_id_from_uid(uid)
    if pk is None:
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
