"""Attacks on authentication, each tried and shown to fail.

Forged and stale tokens, replayed and raced refresh tokens, revocation after a password change, a
reset or a deactivation, self-promotion, account enumeration, password guessing, and rate limits
shared between processes.
"""

import base64
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlsplit

import argon2
import pytest
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.checks import verify_token_settings
from accounts.models import RefreshTokenFamily, RevocationReason, Role, User
from accounts.tokens import issue_token_pair
from tasks.models import Task
from tests.auth_helpers import (
    LOGIN_URL,
    ME_URL,
    OTHER_KEY,
    assert_token_pair,
    assert_unauthorized,
    b64url,
    claims_of,
    json_login,
    logout,
    me,
    refresh,
    sign,
)
from tests.factories import DEFAULT_PASSWORD, AdminFactory, TaskFactory, UserFactory

# Fixed rate-limit windows: a slow run must not cross a window's end between two counted attempts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_rate_limit_window")]

LOGOUT_ALL_URL = "/api/v1/auth/logout-all"
RESET_URL = "/api/v1/auth/password-reset"
CONFIRM_URL = "/api/v1/auth/password-reset/confirm"
ARGON2 = "accounts.hashers.Argon2PasswordHasher"


# Access tokens ---------------------------------------------------------------------------------


def test_valid_access_token_opens_me(api_client: APIClient, user: User) -> None:
    response = me(api_client, issue_token_pair(user).access_token)
    assert response.status_code == 200
    assert response.json()["id"] == user.pk


def test_me_without_a_token_is_refused(api_client: APIClient, db: None) -> None:
    response = api_client.get(ME_URL)
    assert_unauthorized(response)
    assert response["WWW-Authenticate"].startswith("Bearer")


def _alg_none(user: User) -> str:
    claims = claims_of(issue_token_pair(user).access_token)
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}."


def _other_key(user: User) -> str:
    return sign(claims_of(issue_token_pair(user).access_token), OTHER_KEY)


def _expired(user: User) -> str:
    claims = claims_of(issue_token_pair(user).access_token)
    claims["iat"] = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    claims["exp"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    return sign(claims)


def _refresh_as_access(user: User) -> str:
    return issue_token_pair(user).refresh_token


def _tampered(user: User) -> str:
    victim = AdminFactory.create()
    header, payload, signature = issue_token_pair(user).access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = str(victim.pk)
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def _without_version(user: User) -> str:
    """Correctly signed, but missing the claim that ties it to the user's current password."""
    claims = claims_of(issue_token_pair(user).access_token)
    del claims["ver"]
    return sign(claims)


@pytest.mark.parametrize(
    "forge",
    [_alg_none, _other_key, _expired, _refresh_as_access, _tampered, _without_version],
    ids=["alg-none", "other-key", "expired", "refresh-as-access", "tampered-payload", "no-version"],
)
def test_forged_or_stale_access_tokens_are_refused(
    api_client: APIClient, user: User, forge: Callable[[User], str]
) -> None:
    response = me(api_client, forge(user))
    assert_unauthorized(response)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "email" not in response.json()


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer garbage", "Token abc"])
def test_malformed_authorization_headers_are_refused(api_client: APIClient, db: None, header: str) -> None:
    assert_unauthorized(api_client.get(ME_URL, HTTP_AUTHORIZATION=header))


# Revocation ------------------------------------------------------------------------------------


def test_password_change_refuses_earlier_tokens(api_client: APIClient, user: User) -> None:
    old = issue_token_pair(user)
    new_password = "a-brand-new-passphrase-42"
    response = api_client.post(
        "/api/v1/users/me/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": new_password},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {old.access_token}",
    )
    assert response.status_code == 204, response.content

    assert_unauthorized(me(api_client, old.access_token))
    assert_unauthorized(refresh(api_client, old.refresh_token))
    assert_unauthorized(json_login(api_client, user.email, DEFAULT_PASSWORD))
    fresh = assert_token_pair(json_login(api_client, user.email, new_password))
    assert me(api_client, fresh["access_token"]).status_code == 200
    assert_token_pair(refresh(api_client, fresh["refresh_token"]))


def test_deactivation_refuses_tokens_and_logins(api_client: APIClient, admin_client: APIClient, user: User) -> None:
    old = assert_token_pair(json_login(api_client, user.email))

    response = admin_client.patch(f"/api/v1/users/{user.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200, response.content

    assert_unauthorized(me(api_client, old["access_token"]))
    assert_unauthorized(refresh(api_client, old["refresh_token"]))
    assert_unauthorized(json_login(api_client, user.email))


def test_reactivation_does_not_revive_earlier_tokens(
    api_client: APIClient, admin_client: APIClient, user: User
) -> None:
    old = issue_token_pair(user)
    assert admin_client.patch(f"/api/v1/users/{user.pk}", {"is_active": False}, format="json").status_code == 200
    assert admin_client.patch(f"/api/v1/users/{user.pk}", {"is_active": True}, format="json").status_code == 200

    assert_unauthorized(me(api_client, old.access_token))
    assert_unauthorized(refresh(api_client, old.refresh_token))
    fresh = assert_token_pair(json_login(api_client, user.email))
    assert me(api_client, fresh["access_token"]).status_code == 200


def test_deactivated_directly_in_the_database_is_refused_at_once(api_client: APIClient, user: User) -> None:
    pair = issue_token_pair(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_unauthorized(me(api_client, pair.access_token))


def _wrong_audience(user: User) -> str:
    claims = claims_of(issue_token_pair(user).access_token)
    claims["aud"] = "another-service"
    return sign(claims)


def _wrong_issuer(user: User) -> str:
    claims = claims_of(issue_token_pair(user).access_token)
    claims["iss"] = "someone-else"
    return sign(claims)


def _no_issuer(user: User) -> str:
    claims = claims_of(issue_token_pair(user).access_token)
    del claims["iss"]
    return sign(claims)


@pytest.mark.parametrize("forge", [_wrong_audience, _wrong_issuer, _no_issuer], ids=["audience", "issuer", "no-iss"])
def test_tokens_for_another_audience_or_issuer_are_refused(
    api_client: APIClient, user: User, forge: Callable[[User], str]
) -> None:
    assert_unauthorized(me(api_client, forge(user)))


def test_tokens_carry_issuer_audience_and_a_unique_id(user: User) -> None:
    first, second = claims_of(issue_token_pair(user).access_token), claims_of(issue_token_pair(user).access_token)
    assert first["iss"] == settings.SIMPLE_JWT["ISSUER"]
    assert first["aud"] == settings.SIMPLE_JWT["AUDIENCE"]
    assert first["jti"] != second["jti"]


# Refresh-token reuse and races -----------------------------------------------------------------


def test_a_replayed_rotated_refresh_token_revokes_its_whole_family(
    api_client: APIClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    stolen = assert_token_pair(json_login(api_client, user.email))
    other_session = assert_token_pair(json_login(api_client, user.email))
    rightful = assert_token_pair(refresh(api_client, stolen["refresh_token"]))

    with caplog.at_level(logging.WARNING, logger="security"):
        assert_unauthorized(refresh(api_client, stolen["refresh_token"]))

    assert_unauthorized(refresh(api_client, rightful["refresh_token"]))  # the family's newest
    assert_token_pair(refresh(api_client, other_session["refresh_token"]))  # another session lives on
    family = RefreshTokenFamily.objects.get(pk=claims_of(stolen["refresh_token"])["fam"])
    assert family.revoked_reason == RevocationReason.REUSE
    events = [record for record in caplog.records if getattr(record, "event", "") == "refresh_reuse_detected"]
    assert len(events) == 1
    assert events[0].user_id == user.pk  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_parallel_refreshes_of_one_token_let_exactly_one_through(live_server: Any) -> None:
    """8 requests at once, each on its own connection and database session: one wins."""
    user = UserFactory.create()
    token = issue_token_pair(user).refresh_token
    parallel = 8
    start = threading.Barrier(parallel)

    def post_refresh() -> int:
        body = json.dumps({"refresh_token": token}).encode()
        request = urllib.request.Request(  # noqa: S310 (the test's own live server)
            f"{live_server.url}/api/v1/auth/refresh", data=body, headers={"Content-Type": "application/json"}
        )
        start.wait(timeout=10)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        statuses = sorted(pool.map(lambda _: post_refresh(), range(parallel)))

    assert statuses == [200] + [401] * (parallel - 1)
    assert BlacklistedToken.objects.count() == 1


def test_refresh_tokens_are_stored_by_id_only(api_client: APIClient, user: User) -> None:
    pair = assert_token_pair(json_login(api_client, user.email))
    record = OutstandingToken.objects.get(jti=claims_of(pair["refresh_token"])["jti"])
    assert record.token == ""


# Logging out -----------------------------------------------------------------------------------


def test_logout_ends_the_session_of_the_token(api_client: APIClient, user: User) -> None:
    first = assert_token_pair(json_login(api_client, user.email))
    rotated = assert_token_pair(refresh(api_client, first["refresh_token"]))
    assert logout(api_client, rotated["refresh_token"]).status_code == 204
    assert_unauthorized(refresh(api_client, rotated["refresh_token"]))


def test_logout_all_ends_every_session_of_the_caller_only(api_client: APIClient, user: User, other_user: User) -> None:
    sessions = [assert_token_pair(json_login(api_client, user.email)) for _ in range(3)]
    bystander = assert_token_pair(json_login(api_client, other_user.email))

    response = api_client.post(LOGOUT_ALL_URL, HTTP_AUTHORIZATION=f"Bearer {sessions[0]['access_token']}")

    assert response.status_code == 204
    for session in sessions:
        assert_unauthorized(refresh(api_client, session["refresh_token"]))
    assert_token_pair(refresh(api_client, bystander["refresh_token"]))


def test_logout_all_needs_an_access_token(api_client: APIClient) -> None:
    assert_unauthorized(api_client.post(LOGOUT_ALL_URL))


# Password reset --------------------------------------------------------------------------------


@pytest.fixture
def request_reset(django_capture_on_commit_callbacks: Any) -> Callable[[APIClient, str], Any]:
    """Ask for a reset link, running the mail job the request queues once it commits."""

    def post(client: APIClient, email: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(RESET_URL, {"email": email}, format="json")

    return post


def reset_link_parts(message: str) -> dict[str, str]:
    link = re.search(r"https?://\S+", message)
    assert link is not None, message
    query = parse_qs(urlsplit(link.group(0)).query)
    return {"uid": query["uid"][0], "token": query["token"][0]}


def test_password_reset_mails_a_link_that_works_once(
    api_client: APIClient, user: User, request_reset: Callable[[APIClient, str], Any]
) -> None:
    old = issue_token_pair(user)
    response = request_reset(api_client, user.email.upper())
    assert response.status_code == 202
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    parts = reset_link_parts(str(mail.outbox[0].body))

    new_password = "a-reset-passphrase-77"
    confirm = api_client.post(CONFIRM_URL, {**parts, "new_password": new_password}, format="json")
    assert confirm.status_code == 204, confirm.content

    assert_token_pair(json_login(api_client, user.email, new_password))
    assert_unauthorized(me(api_client, old.access_token))
    assert_unauthorized(refresh(api_client, old.refresh_token))
    again = api_client.post(CONFIRM_URL, {**parts, "new_password": "yet-another-passphrase-8"}, format="json")
    assert again.status_code == 400
    assert "token" in again.json()["errors"]
    assert_token_pair(json_login(api_client, user.email, new_password))


def test_password_reset_answers_the_same_whoever_asks(
    api_client: APIClient, user: User, request_reset: Callable[[APIClient, str], Any]
) -> None:
    inactive = UserFactory.create(is_active=False)
    answers = [request_reset(api_client, email) for email in (user.email, "nobody@example.com", inactive.email)]
    assert {(answer.status_code, answer.content) for answer in answers} == {(202, answers[0].content)}
    assert [message.to for message in mail.outbox] == [[user.email]]


def test_a_reset_link_stops_working_when_the_password_changes_otherwise(
    api_client: APIClient, user: User, request_reset: Callable[[APIClient, str], Any]
) -> None:
    request_reset(api_client, user.email)
    parts = reset_link_parts(str(mail.outbox[0].body))
    user.set_password("changed-another-way-123")
    user.save()
    response = api_client.post(CONFIRM_URL, {**parts, "new_password": "a-reset-passphrase-77"}, format="json")
    assert response.status_code == 400


def test_an_expired_reset_link_is_refused(
    api_client: APIClient, user: User, monkeypatch: pytest.MonkeyPatch, request_reset: Callable[[APIClient, str], Any]
) -> None:
    request_reset(api_client, user.email)
    parts = reset_link_parts(str(mail.outbox[0].body))
    later = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    response = api_client.post(CONFIRM_URL, {**parts, "new_password": "a-reset-passphrase-77"}, format="json")
    assert response.status_code == 400
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda parts: {**parts, "token": parts["token"][:-1] + ("a" if parts["token"][-1] != "a" else "b")},
        lambda parts: {**parts, "uid": "MTIzNDU2Nzg5"},
        lambda parts: {**parts, "uid": "!!not-base64!!"},
        lambda parts: {**parts, "uid": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"},
        lambda parts: {**parts, "token": "x" * 128},
    ],
    ids=["token", "other-uid", "bad-uid", "huge-uid", "garbage-token"],
)
def test_a_tampered_reset_link_is_refused(
    api_client: APIClient,
    user: User,
    tamper: Callable[[dict[str, str]], dict[str, str]],
    request_reset: Callable[[APIClient, str], Any],
) -> None:
    request_reset(api_client, user.email)
    parts = tamper(reset_link_parts(str(mail.outbox[0].body)))
    response = api_client.post(CONFIRM_URL, {**parts, "new_password": "a-reset-passphrase-77"}, format="json")
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_a_reset_applies_the_password_validators(
    api_client: APIClient, user: User, request_reset: Callable[[APIClient, str], Any]
) -> None:
    request_reset(api_client, user.email)
    parts = reset_link_parts(str(mail.outbox[0].body))
    response = api_client.post(CONFIRM_URL, {**parts, "new_password": "password"}, format="json")
    assert response.status_code == 400
    assert "new_password" in response.json()["errors"]


# Self-promotion --------------------------------------------------------------------------------

PROMOTION = {"role": "admin", "is_staff": True, "is_superuser": True, "is_active": True, "token_version": 0}


def test_no_writable_endpoint_lets_a_user_promote_themselves(
    api_client: APIClient, user: User, other_user: User
) -> None:
    token = issue_token_pair(user).access_token
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    theirs = TaskFactory.create(owner=other_user)
    mine = TaskFactory.create(owner=user)
    attempts = [
        api_client.patch(ME_URL, {**PROMOTION, "full_name": "Me"}, format="json", **auth),
        api_client.patch(f"/api/v1/users/{user.pk}/", PROMOTION, format="json", **auth),
        api_client.post("/api/v1/users/", {**PROMOTION, "email": "x@example.com", "password": "p-4-x-y-z-w"}, **auth),
        api_client.post("/api/v1/tasks/", {"title": "t", "owner": other_user.pk, **PROMOTION}, format="json", **auth),
        api_client.put(f"/api/v1/tasks/{mine.pk}/", {"title": "t", "owner": other_user.pk}, format="json", **auth),
        api_client.patch(f"/api/v1/tasks/{mine.pk}/", {"owner": other_user.pk}, format="json", **auth),
        api_client.patch(f"/api/v1/tasks/{theirs.pk}/", {"owner": user.pk}, format="json", **auth),
        api_client.post(LOGIN_URL, {"username": user.email, "password": DEFAULT_PASSWORD, **PROMOTION}, format="json"),
    ]
    assert [attempt.status_code for attempt in attempts] == [200, 403, 403, 201, 200, 200, 404, 200]

    user.refresh_from_db()
    assert user.role == Role.USER
    assert not user.is_staff
    assert not user.is_superuser
    assert user.full_name == "Me"
    assert Task.objects.filter(owner=other_user).get() == theirs
    assert Task.objects.filter(owner=user).count() == 2
    # The new login's token is still a plain user's.
    new_token = attempts[-1].json()["access_token"]
    assert api_client.get("/api/v1/users/", HTTP_AUTHORIZATION=f"Bearer {new_token}").status_code == 403


def test_a_demoted_admin_loses_admin_access_on_the_next_request(api_client: APIClient, admin_user: User) -> None:
    AdminFactory.create()
    token = issue_token_pair(admin_user).access_token
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert api_client.get("/api/v1/users/", **auth).status_code == 200
    User.objects.filter(pk=admin_user.pk).update(role=Role.USER)
    assert api_client.get("/api/v1/users/", **auth).status_code == 403


# Enumeration and password guessing ----------------------------------------------------------------


def test_login_answers_do_not_reveal_which_emails_exist(api_client: APIClient, user: User) -> None:
    inactive = UserFactory.create(is_active=False)
    answers = [
        json_login(api_client, email, password)
        for email, password in (
            (user.email, "wrong-password"),
            ("nobody@example.com", "wrong-password"),
            (inactive.email, DEFAULT_PASSWORD),
        )
    ]
    assert {(answer.status_code, answer.content, answer["WWW-Authenticate"]) for answer in answers} == {
        (401, answers[0].content, answers[0]["WWW-Authenticate"])
    }


def test_an_unknown_email_costs_one_password_hash_like_a_known_one(
    api_client: APIClient, user: User, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work done, not the time taken, is compared: one Argon2 computation either way."""
    settings.PASSWORD_HASHERS = [ARGON2]
    user.set_password(DEFAULT_PASSWORD)
    user.save()
    computed: list[str] = []
    real_hash, real_verify = argon2.low_level.hash_secret, argon2.PasswordHasher.verify

    def counting_hash(*args: Any, **kwargs: Any) -> bytes:
        computed.append("hash")
        return real_hash(*args, **kwargs)

    def counting_verify(*args: Any, **kwargs: Any) -> bool:
        computed.append("verify")
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(argon2.low_level, "hash_secret", counting_hash)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)

    json_login(api_client, "nobody@example.com", "a-guess")
    unknown, computed[:] = list(computed), []
    json_login(api_client, user.email, "a-guess")
    known = list(computed)

    assert unknown == ["hash"]
    assert known == ["verify"]


def test_rapid_failed_logins_against_one_account_are_stopped(api_client: APIClient, user: User) -> None:
    answers = [json_login(api_client, user.email, f"guess-{n}") for n in range(25)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    assert 0 < int(answers[-1]["Retry-After"]) <= 60
    assert answers[-1].json()["code"] == "throttled"
    # Even the right password waits: the account is not guessable from this address meanwhile.
    assert json_login(api_client, user.email).status_code == 429


def test_successful_logins_do_not_count_against_the_user(api_client: APIClient, user: User) -> None:
    for _ in range(15):
        assert_token_pair(json_login(api_client, user.email))


def test_failed_logins_across_accounts_are_limited_per_address(api_client: APIClient) -> None:
    statuses = [json_login(api_client, f"nobody{n}@example.com", "guess").status_code for n in range(55)]
    assert statuses[:50] == [401] * 50
    assert set(statuses[50:]) == {429}


def test_a_forged_forwarded_for_header_does_not_dodge_the_limit(api_client: APIClient, user: User) -> None:
    statuses = [
        json_login(api_client, user.email, "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(12)
    ]
    assert statuses[-1] == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(
    api_client: APIClient, user: User, settings: Settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1

    def attempt(client_ip: str) -> int:
        return int(
            json_login(api_client, user.email, "guess", HTTP_X_FORWARDED_FOR=f"6.6.6.6, {client_ip}").status_code
        )

    assert [attempt("203.0.113.1") for _ in range(11)][-1] == 429
    assert attempt("203.0.113.2") == 401  # another client behind the same proxy is not blocked


def test_refreshes_are_limited_per_user(api_client: APIClient, user: User, settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "refresh": "3/min"}
    token = assert_token_pair(json_login(api_client, user.email))["refresh_token"]
    for _ in range(3):
        token = assert_token_pair(refresh(api_client, token))["refresh_token"]
    limited = refresh(api_client, token)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    # The refused request did not spend the token.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "refresh": None}
    assert_token_pair(refresh(api_client, token))


def test_password_reset_requests_are_limited_per_address(
    api_client: APIClient, user: User, request_reset: Callable[[APIClient, str], Any]
) -> None:
    victims = UserFactory.create_batch(7)
    statuses = [request_reset(api_client, victim.email).status_code for victim in victims]
    assert statuses == [202] * 5 + [429] * 2
    assert len(mail.outbox) == 5


def test_an_empty_rate_turns_a_limit_off(api_client: APIClient, user: User, settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_failures": None}
    statuses = [json_login(api_client, user.email, "guess").status_code for _ in range(15)]
    assert set(statuses) == {401}


def test_anonymous_and_user_traffic_have_their_own_limits(
    api_client: APIClient, user: User, settings: Settings
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "anon": "3/min", "user": "5/min"}
    assert [api_client.post(LOGIN_URL, {}).status_code for _ in range(4)] == [400, 400, 400, 429]
    token = issue_token_pair(user).access_token
    statuses = [api_client.get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


# Security events -------------------------------------------------------------------------------


def test_security_events_are_logged_without_secrets(
    api_client: APIClient,
    user: User,
    admin_client: APIClient,
    caplog: pytest.LogCaptureFixture,
    request_reset: Callable[[APIClient, str], Any],
) -> None:
    with caplog.at_level(logging.INFO, logger="security"):
        json_login(api_client, user.email, "wrong-password")
        pair = assert_token_pair(json_login(api_client, user.email))
        auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {pair['access_token']}"}
        api_client.post(LOGOUT_ALL_URL, **auth)
        # logout-all refused that access token: sign in again to change the password
        pair = assert_token_pair(json_login(api_client, user.email))
        auth = {"HTTP_AUTHORIZATION": f"Bearer {pair['access_token']}"}
        api_client.post(
            "/api/v1/users/me/password",
            {"current_password": DEFAULT_PASSWORD, "new_password": "next-passphrase-55"},
            format="json",
            **auth,
        )
        request_reset(api_client, user.email)
        AdminFactory.create()
        admin_client.patch(f"/api/v1/users/{user.pk}/", {"role": "admin"}, format="json", HTTP_X_REQUEST_ID="req-42")
        admin_client.delete(f"/api/v1/users/{user.pk}/")

    records = [record for record in caplog.records if record.name == "security"]
    events = {getattr(record, "event", None): record for record in records}
    assert {
        "login_failed",
        "login_succeeded",
        "logout_all",
        "password_changed",
        "password_reset_requested",
        "role_changed",
        "user_deactivated",
    } <= set(events)
    for record in records:
        assert record.user_id == user.pk  # type: ignore[attr-defined]
        assert record.client_ip == "127.0.0.1"  # type: ignore[attr-defined]
        assert record.request_id  # type: ignore[attr-defined]
        text = json.dumps(vars(record), default=str)
        for secret in (DEFAULT_PASSWORD, "wrong-password", "next-passphrase-55", pair["access_token"]):
            assert secret not in text
        assert "argon2" not in text
        assert "md5$" not in text
    assert events["role_changed"].request_id == "req-42"  # type: ignore[attr-defined]
    assert events["role_changed"].new_role == "admin"  # type: ignore[attr-defined]


# Startup refusals and housekeeping -------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"BLACKLIST_AFTER_ROTATION": False},
        {"ALGORITHM": "none"},
        {"ALGORITHM": "RS256"},
        {"AUDIENCE": None},
        {"LEEWAY": 60},
    ],
    ids=["rotation-without-revocation", "alg-none", "other-alg", "no-audience", "leeway"],
)
def test_the_app_refuses_to_start_with_unsafe_token_settings(settings: Settings, override: dict[str, Any]) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **override}
    with pytest.raises(ImproperlyConfigured):
        verify_token_settings()


def test_rotation_without_the_blacklist_app_is_refused(settings: Settings) -> None:
    apps_without_blacklist = [app for app in settings.INSTALLED_APPS if not app.endswith("token_blacklist")]
    with (
        pytest.raises(ImproperlyConfigured, match="BLACKLIST_AFTER_ROTATION"),
        override_settings(INSTALLED_APPS=apps_without_blacklist),
    ):
        verify_token_settings()


def test_pruning_removes_expired_tokens_and_sessions_only(api_client: APIClient, user: User) -> None:
    live = assert_token_pair(json_login(api_client, user.email))
    expired = assert_token_pair(json_login(api_client, user.email))
    revoked_expired = assert_token_pair(json_login(api_client, user.email))
    logout(api_client, revoked_expired["refresh_token"])
    past = timezone.now() - timedelta(days=1)
    for pair in (expired, revoked_expired):
        claims = claims_of(pair["refresh_token"])
        OutstandingToken.objects.filter(jti=claims["jti"]).update(expires_at=past)
        RefreshTokenFamily.objects.filter(pk=claims["fam"]).update(expires_at=past)

    out = StringIO()
    call_command("prune_tokens", stdout=out)

    assert "Pruned 2 expired refresh tokens and 2 expired sessions." in out.getvalue()
    assert OutstandingToken.objects.count() == 1
    assert RefreshTokenFamily.objects.get().pk == claims_of(live["refresh_token"])["fam"]
    assert_token_pair(refresh(api_client, live["refresh_token"]))


def test_the_reset_mail_is_rendered_as_text_and_html_with_the_configured_link(
    api_client: APIClient, user: User, request_reset: Callable[[APIClient, str], Any], settings: Settings
) -> None:
    settings.PASSWORD_RESET_URL = "https://app.example.com/account/reset?uid={uid}&token={token}"
    request_reset(api_client, user.email)
    [message] = mail.outbox
    assert message.subject == "Reset your password"
    assert "https://app.example.com/account/reset?uid=" in str(message.body)
    html, mimetype = message.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    assert "https://app.example.com/account/reset?uid=" in html
