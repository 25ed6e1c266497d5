"""Sign-up and email verification through the HTTP API, as a newcomer and as an attacker would try them."""

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import Role, User
from tests.auth_helpers import assert_token_pair, json_login, me
from tests.factories import DEFAULT_PASSWORD, UserFactory

# Fixed rate-limit windows: a slow run must not cross a window's end between two counted attempts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_rate_limit_window")]

SIGNUP_URL = "/api/v1/auth/signup"
VERIFY_URL = "/api/v1/auth/verify-email"
RESEND_URL = "/api/v1/auth/verify-email/resend"
PASSWORD = "a-newcomer-passphrase-7"


@pytest.fixture
def signup(api_client: APIClient, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST a sign-up and run the mail jobs it queues."""

    def post(email: str, password: str = PASSWORD, **extra: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post(SIGNUP_URL, {"email": email, "password": password, **extra}, format="json")

    return post


def link_in(message: Any) -> dict[str, str]:
    """The `uid` and `token` of the first link of a mail's plain-text body."""
    found = re.search(r"https?://\S+", str(message.body))
    assert found is not None, message.body
    query = parse_qs(urlsplit(found.group(0)).query)
    return {"uid": query["uid"][0], "token": query["token"][0], "url": found.group(0)}


def test_sign_up_makes_an_unverified_user_and_mails_a_verification_link(signup: Callable[..., Any]) -> None:
    response = signup("New.Person@Example.com", full_name="New Person")
    assert response.status_code == 202
    user = User.objects.get(email="new.person@example.com")
    assert (user.role, user.full_name, user.is_active, user.email_verified_at) == (Role.USER, "New Person", True, None)
    assert user.check_password(PASSWORD)
    assert [message.to for message in mail.outbox] == [["new.person@example.com"]]
    message = mail.outbox[0]
    assert "Confirm your email" in message.subject
    link = link_in(message)
    assert link["url"].startswith("http://localhost:3000/verify-email?uid=")
    # The HTML version carries the same link.
    html, mimetype = message.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    assert link["url"] in html.replace("&amp;", "&")
    assert PASSWORD not in str(message.body) + html


def test_sign_up_with_a_taken_email_answers_the_same_and_warns_its_owner(signup: Callable[..., Any]) -> None:
    owner = UserFactory.create(email="taken@example.com", full_name="Owner")
    new = signup("fresh@example.com")
    taken = signup("TAKEN@example.com", full_name="Intruder")
    assert taken.status_code == new.status_code == 202
    assert taken.json() == new.json()
    assert taken.content == new.content
    owner_after = User.objects.get(pk=owner.pk)
    assert (owner_after.full_name, owner_after.password) == ("Owner", owner.password)
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    warning = mail.outbox[-1]
    assert warning.to == ["taken@example.com"]
    assert "tried to sign up" in str(warning.body)
    assert "/reset-password?uid=" in str(warning.body)


def test_sign_up_refuses_a_weak_password_naming_the_field_whether_or_not_the_email_is_taken(
    signup: Callable[..., Any],
) -> None:
    UserFactory.create(email="taken@example.com")
    for email in ("taken@example.com", "fresh@example.com"):
        response = signup(email, password="12345678")
        assert response.status_code == 400
        assert "password" in response.json()["errors"]
    assert not User.objects.filter(email="fresh@example.com").exists()
    assert mail.outbox == []


@pytest.mark.parametrize(
    "body", [{"email": "not-an-email", "password": PASSWORD}, {"password": PASSWORD}, {"email": "a@example.com"}]
)
def test_sign_up_refuses_bad_input_naming_the_field(api_client: APIClient, body: dict[str, str]) -> None:
    response = api_client.post(SIGNUP_URL, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) <= {"email", "password"}
    assert User.objects.count() == 0


def test_sign_up_is_rate_limited_per_address(signup: Callable[..., Any], settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "signup": "2/hour"}
    assert signup("one@example.com").status_code == 202
    assert signup("two@example.com").status_code == 202
    response = signup("three@example.com")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not User.objects.filter(email="three@example.com").exists()


def test_sign_up_endpoints_answer_404_when_turned_off(api_client: APIClient, settings: Settings) -> None:
    settings.SIGNUP_ENABLED = False
    for url, body in (
        (SIGNUP_URL, {"email": "x@example.com", "password": PASSWORD}),
        (VERIFY_URL, {"uid": "MQ", "token": "x"}),
        (RESEND_URL, {"email": "x@example.com"}),
    ):
        response = api_client.post(url, body, format="json")
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    assert User.objects.count() == 0


def test_unverified_login_is_403_only_with_the_right_password(
    signup: Callable[..., Any], api_client: APIClient
) -> None:
    signup("new@example.com")
    unverified = json_login(api_client, "new@example.com", PASSWORD)
    assert unverified.status_code == 403
    assert unverified.json()["code"] == "email_not_verified"
    wrong = json_login(api_client, "new@example.com", "a-wrong-password-1")
    unknown = json_login(api_client, "nobody@example.com", "a-wrong-password-1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_the_verification_link_verifies_logs_in_and_works_once(
    signup: Callable[..., Any], api_client: APIClient
) -> None:
    signup("new@example.com")
    link = link_in(mail.outbox[0])
    response = api_client.post(VERIFY_URL, {"uid": link["uid"], "token": link["token"]}, format="json")
    pair = assert_token_pair(response)
    assert me(api_client, pair["access_token"]).json()["email"] == "new@example.com"
    user = User.objects.get(email="new@example.com")
    assert user.email_verified_at is not None
    assert user.last_login is not None
    assert_token_pair(json_login(api_client, "new@example.com", PASSWORD))

    again = api_client.post(VERIFY_URL, {"uid": link["uid"], "token": link["token"]}, format="json")
    assert again.status_code == 400
    assert "token" in again.json()["errors"]


def test_an_expired_or_tampered_verification_link_is_refused(
    signup: Callable[..., Any], api_client: APIClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    signup("new@example.com")
    signup("other@example.com")
    link = link_in(mail.outbox[0])
    other = link_in(mail.outbox[1])
    # Another account's token with this account's uid, a mangled token, a mangled uid.
    for uid, token in ((link["uid"], other["token"]), (link["uid"], link["token"][:-2]), ("!!", link["token"])):
        response = api_client.post(VERIFY_URL, {"uid": uid, "token": token}, format="json")
        assert response.status_code == 400
    settings.EMAIL_VERIFICATION_TIMEOUT = 60
    later = timezone.now().timestamp() + 61
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    response = api_client.post(VERIFY_URL, {"uid": link["uid"], "token": link["token"]}, format="json")
    assert response.status_code == 400
    assert User.objects.get(email="new@example.com").email_verified_at is None


def test_resend_answers_the_same_whatever_the_email_and_mails_only_the_unverified(
    signup: Callable[..., Any], api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    signup("new@example.com")
    UserFactory.create(email="verified@example.com")
    mail.outbox.clear()
    answers = []
    for email in ("new@example.com", "verified@example.com", "nobody@example.com"):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(api_client.post(RESEND_URL, {"email": email}, format="json"))
    assert {response.status_code for response in answers} == {202}
    assert len({response.content for response in answers}) == 1
    assert [message.to for message in mail.outbox] == [["new@example.com"]]
    # The new link works.
    link = link_in(mail.outbox[0])
    assert_token_pair(api_client.post(VERIFY_URL, {"uid": link["uid"], "token": link["token"]}, format="json"))


def test_resend_is_rate_limited(api_client: APIClient, settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "verification_resend": "1/hour"}
    assert api_client.post(RESEND_URL, {"email": "a@example.com"}, format="json").status_code == 202
    assert api_client.post(RESEND_URL, {"email": "b@example.com"}, format="json").status_code == 429


def test_accounts_made_by_admins_count_as_verified(admin_client: APIClient, admin_user: User) -> None:
    response = admin_client.post(
        "/api/v1/users/", {"email": "made@example.com", "password": "a-made-passphrase-3"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["email_verified_at"] is not None
    assert_token_pair(json_login(APIClient(), "made@example.com", "a-made-passphrase-3"))

    site = Client()
    site.force_login(admin_user)
    site.post(
        "/admin/accounts/user/add/",
        {
            "email": "site@example.com",
            "role": "user",
            "password1": "x-unusual-42-pass",
            "password2": "x-unusual-42-pass",
        },
    )
    assert User.objects.get(email="site@example.com").email_verified_at is not None


def test_the_users_api_shows_and_filters_by_verification(
    signup: Callable[..., Any], admin_client: APIClient, admin_user: User
) -> None:
    signup("new@example.com")
    unverified = admin_client.get("/api/v1/users/?is_verified=false").json()
    assert [user["email"] for user in unverified["results"]] == ["new@example.com"]
    assert unverified["results"][0]["email_verified_at"] is None
    verified = admin_client.get("/api/v1/users/?is_verified=true").json()
    assert [user["email"] for user in verified["results"]] == [admin_user.email]
    assert admin_client.get("/api/v1/users/?is_verified=maybe").status_code == 400


def test_the_admin_site_shows_and_filters_by_verification(signup: Callable[..., Any], admin_user: User) -> None:
    signup("new@example.com")
    site = Client()
    site.force_login(admin_user)
    page = site.get("/admin/accounts/user/?email_verified_at__isempty=1").content.decode()
    assert "new@example.com" in page
    assert admin_user.email not in page.split('id="result_list"')[1]
    assert "Email verified at" in page


def test_seed_admin_makes_a_verified_admin(settings: Settings) -> None:
    from django.core.management import call_command

    settings.ADMIN_EMAIL, settings.ADMIN_PASSWORD = "root@example.com", DEFAULT_PASSWORD
    call_command("seed_admin", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert User.objects.get(email="root@example.com").email_verified_at is not None
