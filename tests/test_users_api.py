"""The caller's own account, and user management for admins."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, User
from accounts.tokens import issue_token_pair
from tasks.models import Task
from tests.factories import DEFAULT_PASSWORD, AdminFactory, TaskFactory, UserFactory
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db

ME_URL = "/api/v1/users/me"
PASSWORD_URL = "/api/v1/users/me/password"
USERS_URL = "/api/v1/users/"
LOGIN_URL = "/api/v1/auth/login"
USER_FIELDS = {"id", "email", "full_name", "role", "is_active", "email_verified_at", "date_joined", "last_login"}
NEW_PASSWORD = "a-brand-new-passphrase-42"


def user_url(pk: int, slash: bool = True) -> str:
    return f"/api/v1/users/{pk}" + ("/" if slash else "")


def login(client: APIClient, email: str, password: str = DEFAULT_PASSWORD) -> Any:
    return client.post(LOGIN_URL, {"username": email, "password": password}, format="json")


def assert_invalid(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body: dict[str, Any] = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body
    assert field in body["detail"]
    return body


def snapshot(user: User) -> dict[str, Any]:
    """Everything about an account that a failed request must leave alone."""
    fresh = User.objects.get(pk=user.pk)
    return {
        "email": fresh.email,
        "full_name": fresh.full_name,
        "role": fresh.role,
        "is_active": fresh.is_active,
        "password": fresh.password,
        "token_version": fresh.token_version,
    }


# The caller's own account ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [ME_URL, ME_URL + "/"])
def test_me_shows_the_callers_account(user_client: APIClient, user: User, url: str) -> None:
    response = user_client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["id"] == user.pk
    assert body["email"] == user.email
    assert body["full_name"] == user.full_name
    assert body["role"] == "user"
    assert body["is_active"] is True
    assert body["date_joined"]
    assert body["last_login"] is None


def test_me_never_shows_the_password_hash(api_client: APIClient, user: User) -> None:
    token = login(api_client, user.email).json()["access_token"]
    response = api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["last_login"] is not None
    user.refresh_from_db()
    text = response.content.decode()
    assert "password" not in text
    assert user.password not in text
    assert user.password.split("$")[-1] not in text
    assert "token_version" not in text


def test_me_shows_an_admin_their_role(admin_client: APIClient) -> None:
    assert admin_client.get(ME_URL).json()["role"] == "admin"


@pytest.mark.parametrize("url", [ME_URL, ME_URL + "/"])
def test_me_changes_the_full_name(user_client: APIClient, user: User, url: str) -> None:
    response = user_client.patch(url, {"full_name": "Ada Lovelace"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "Ada Lovelace"
    user.refresh_from_db()
    assert user.full_name == "Ada Lovelace"


def test_me_ignores_fields_that_grant_access(user_client: APIClient, user: User) -> None:
    before = snapshot(user)
    response = user_client.patch(
        ME_URL,
        {
            "full_name": "Still Just A User",
            "role": "admin",
            "email": "takeover@example.com",
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "password": "sneaky-new-passphrase",
            "id": 999,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["role"] == "user"
    assert body["email"] == before["email"]
    assert body["is_active"] is True
    assert body["id"] == user.pk

    after = snapshot(user)
    assert after == {**before, "full_name": "Still Just A User"}
    fresh = User.objects.get(pk=user.pk)
    assert not fresh.is_staff
    assert not fresh.is_superuser
    assert not User.objects.filter(email="takeover@example.com").exists()
    # The caller's token still works: nothing about the account's access changed.
    assert user_client.get(ME_URL).status_code == 200


def test_me_refuses_an_overlong_name(user_client: APIClient, user: User) -> None:
    before = snapshot(user)
    assert_invalid(user_client.patch(ME_URL, {"full_name": "x" * 151}, format="json"), "full_name")
    assert snapshot(user) == before


def test_me_needs_a_token(api_client: APIClient, db: None) -> None:
    assert_problem(api_client.get(ME_URL), 401)
    assert_problem(api_client.patch(ME_URL, {"full_name": "x"}, format="json"), 401)
    assert_problem(api_client.post(PASSWORD_URL, {}, format="json"), 401)


# Changing one's password -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [PASSWORD_URL, PASSWORD_URL + "/"])
def test_password_change(api_client: APIClient, user_client: APIClient, user: User, url: str) -> None:
    response = user_client.post(
        url, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204, response.content
    assert response.content == b""

    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200
    assert_problem(login(api_client, user.email, DEFAULT_PASSWORD), 401)


def test_password_change_refuses_a_wrong_current_password(
    api_client: APIClient, user_client: APIClient, user: User
) -> None:
    before = snapshot(user)
    response = user_client.post(
        PASSWORD_URL, {"current_password": "not-my-password", "new_password": NEW_PASSWORD}, format="json"
    )
    assert_invalid(response, "current_password")
    assert "new_password" not in response.json()["errors"]

    assert snapshot(user) == before
    assert user_client.get(ME_URL).status_code == 200
    assert login(api_client, user.email).status_code == 200
    assert_problem(login(api_client, user.email, NEW_PASSWORD), 401)


@pytest.mark.parametrize("weak", ["123", "password", "8675309241", "short"])
def test_password_change_refuses_a_weak_password(
    api_client: APIClient, user_client: APIClient, user: User, weak: str
) -> None:
    before = snapshot(user)
    response = user_client.post(
        PASSWORD_URL, {"current_password": DEFAULT_PASSWORD, "new_password": weak}, format="json"
    )
    body = assert_invalid(response, "new_password")
    assert body["errors"]["new_password"]

    assert snapshot(user) == before
    assert user_client.get(ME_URL).status_code == 200
    assert login(api_client, user.email).status_code == 200
    assert_problem(login(api_client, user.email, weak), 401)


def test_password_change_refuses_a_password_like_the_email(user: User, user_client: APIClient) -> None:
    before = snapshot(user)
    local_part = user.email.split("@")[0]
    response = user_client.post(
        PASSWORD_URL, {"current_password": DEFAULT_PASSWORD, "new_password": local_part + "1"}, format="json"
    )
    assert_invalid(response, "new_password")
    assert snapshot(user) == before


def test_password_change_names_missing_fields(user_client: APIClient, user: User) -> None:
    before = snapshot(user)
    response = user_client.post(PASSWORD_URL, {}, format="json")
    body = assert_invalid(response, "current_password")
    assert "new_password" in body["errors"]
    assert snapshot(user) == before


# Admin: listing --------------------------------------------------------------------------------


def test_list_is_paginated(admin_client: APIClient, admin_user: User) -> None:
    UserFactory.create_batch(4)

    first = admin_client.get(USERS_URL, {"page_size": 2})
    assert first.status_code == 200, first.content
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5
    assert body["previous"] is None
    assert body["next"]
    assert len(body["results"]) == 2
    assert all(set(item) == USER_FIELDS for item in body["results"])

    seen = [item["id"] for item in body["results"]]
    page = body
    while page["next"]:
        page = admin_client.get(page["next"]).json()
        assert page["previous"]
        seen += [item["id"] for item in page["results"]]
    assert sorted(seen) == sorted(User.objects.values_list("id", flat=True))
    assert len(seen) == len(set(seen))


def test_list_without_slash(admin_client: APIClient, admin_user: User) -> None:
    response = admin_client.get(USERS_URL.rstrip("/"))
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_list_never_shows_password_hashes(admin_client: APIClient, user: User) -> None:
    text = admin_client.get(USERS_URL).content.decode()
    assert "password" not in text
    assert user.password not in text


def test_list_filters_by_role(admin_client: APIClient, admin_user: User, user: User, other_user: User) -> None:
    admins = admin_client.get(USERS_URL, {"role": "admin"}).json()["results"]
    assert [item["id"] for item in admins] == [admin_user.pk]
    users = admin_client.get(USERS_URL, {"role": "user"}).json()["results"]
    assert {item["id"] for item in users} == {user.pk, other_user.pk}


def test_list_refuses_an_unknown_role_filter(admin_client: APIClient) -> None:
    assert_invalid(admin_client.get(USERS_URL, {"role": "superuser"}), "role")


def test_list_filters_by_is_active(admin_client: APIClient, admin_user: User, user: User) -> None:
    inactive = UserFactory.create(is_active=False)
    results = admin_client.get(USERS_URL, {"is_active": "false"}).json()["results"]
    assert [item["id"] for item in results] == [inactive.pk]
    results = admin_client.get(USERS_URL, {"is_active": "true"}).json()["results"]
    assert {item["id"] for item in results} == {admin_user.pk, user.pk}


def test_list_combines_filters(admin_client: APIClient, admin_user: User) -> None:
    retired = AdminFactory.create(is_active=False)
    UserFactory.create(is_active=False)
    results = admin_client.get(USERS_URL, {"role": "admin", "is_active": "false"}).json()["results"]
    assert [item["id"] for item in results] == [retired.pk]


def test_list_searches_email_and_full_name(admin_client: APIClient, admin_user: User) -> None:
    by_email = UserFactory.create(email="grace.hopper@navy.example", full_name="G. H.")
    by_name = UserFactory.create(email="someone@example.com", full_name="Grace Kelly")
    UserFactory.create(email="alan@example.com", full_name="Alan Turing")

    results = admin_client.get(USERS_URL, {"search": "GRACE"}).json()["results"]
    assert {item["id"] for item in results} == {by_email.pk, by_name.pk}
    results = admin_client.get(USERS_URL, {"search": "navy.example"}).json()["results"]
    assert [item["id"] for item in results] == [by_email.pk]
    results = admin_client.get(USERS_URL, {"search": "nobody-matches-this"}).json()
    assert results["count"] == 0
    assert results["results"] == []


def test_list_orders_by_email(admin_client: APIClient) -> None:
    for email in ("bravo@example.com", "alpha@example.com", "charlie@example.com"):
        UserFactory.create(email=email)

    emails = [item["email"] for item in admin_client.get(USERS_URL, {"ordering": "-email"}).json()["results"]]
    assert emails == sorted(emails, reverse=True)
    assert len(emails) == 4
    emails = [item["email"] for item in admin_client.get(USERS_URL, {"ordering": "email"}).json()["results"]]
    assert emails == sorted(emails)


def test_list_defaults_to_id_order(admin_client: APIClient) -> None:
    UserFactory.create_batch(3)
    ids = [item["id"] for item in admin_client.get(USERS_URL).json()["results"]]
    assert ids == sorted(ids)


# Admin: creating -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [USERS_URL, USERS_URL.rstrip("/")])
def test_create_user(admin_client: APIClient, api_client: APIClient, url: str) -> None:
    response = admin_client.post(
        url,
        {"email": "  New.Person@Example.COM ", "password": NEW_PASSWORD, "role": "admin", "full_name": "New Person"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "new.person@example.com"
    assert body["role"] == "admin"
    assert body["full_name"] == "New Person"
    assert body["is_active"] is True
    assert body["last_login"] is None

    created = User.objects.get(pk=body["id"])
    assert created.email == "new.person@example.com"
    assert created.role == Role.ADMIN
    assert created.password != NEW_PASSWORD
    assert NEW_PASSWORD not in created.password
    assert created.check_password(NEW_PASSWORD)
    assert login(api_client, "new.person@example.com", NEW_PASSWORD).status_code == 200


def test_create_user_defaults(admin_client: APIClient) -> None:
    response = admin_client.post(USERS_URL, {"email": "plain@example.com", "password": NEW_PASSWORD}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "user"
    assert body["full_name"] == ""
    assert User.objects.get(pk=body["id"]).role == Role.USER


def test_create_user_takes_json_only(admin_client: APIClient) -> None:
    """Only login keeps the earlier template's form bodies; the schema says JSON for the rest."""
    response = admin_client.post(
        USERS_URL,
        f"email=form@example.com&password={NEW_PASSWORD}&role=user",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415, response.content
    assert response.json()["code"] == "unsupported_media_type"
    assert not User.objects.filter(email="form@example.com").exists()


@pytest.mark.parametrize("spelling", ["taken@example.com", "TAKEN@example.com", " Taken@Example.Com "])
def test_create_refuses_a_duplicate_email(admin_client: APIClient, spelling: str) -> None:
    UserFactory.create(email="taken@example.com")
    count = User.objects.count()
    response = admin_client.post(USERS_URL, {"email": spelling, "password": NEW_PASSWORD}, format="json")
    assert_invalid(response, "email")
    assert User.objects.count() == count


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "", "a" * 250 + "@example.com"])
def test_create_refuses_an_invalid_email(admin_client: APIClient, email: str) -> None:
    count = User.objects.count()
    assert_invalid(admin_client.post(USERS_URL, {"email": email, "password": NEW_PASSWORD}, format="json"), "email")
    assert User.objects.count() == count


@pytest.mark.parametrize("weak", ["123", "password", "1234567890", "short", "weakling@example.com"])
def test_create_refuses_a_weak_password(admin_client: APIClient, weak: str) -> None:
    count = User.objects.count()
    response = admin_client.post(USERS_URL, {"email": "weakling@example.com", "password": weak}, format="json")
    assert_invalid(response, "password")
    assert User.objects.count() == count


def test_create_refuses_an_unknown_role(admin_client: APIClient) -> None:
    count = User.objects.count()
    response = admin_client.post(
        USERS_URL, {"email": "role@example.com", "password": NEW_PASSWORD, "role": "superuser"}, format="json"
    )
    assert_invalid(response, "role")
    assert User.objects.count() == count


def test_create_names_every_missing_field(admin_client: APIClient) -> None:
    body = assert_invalid(admin_client.post(USERS_URL, {}, format="json"), "email")
    assert "password" in body["errors"]


# Admin: one user -------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", [True, False])
def test_get_user(admin_client: APIClient, user: User, slash: bool) -> None:
    response = admin_client.get(user_url(user.pk, slash))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["id"] == user.pk
    assert body["email"] == user.email


@pytest.mark.parametrize(
    "request_",
    [
        lambda c: c.get(user_url(999_999)),
        lambda c: c.get(user_url(999_999, slash=False)),
        lambda c: c.patch(user_url(999_999), {"full_name": "x"}, format="json"),
        lambda c: c.delete(user_url(999_999)),
        lambda c: c.get(user_url(99_999_999_999_999_999_999)),
    ],
    ids=["get", "get-no-slash", "patch", "delete", "huge-id"],
)
def test_unknown_user_is_a_json_404(admin_client: APIClient, request_: Callable[[APIClient], Any]) -> None:
    assert assert_problem(request_(admin_client), 404)["code"] == "not_found"


def test_non_numeric_id_is_a_json_404(admin_client: APIClient) -> None:
    assert assert_problem(admin_client.get("/api/v1/users/abc"), 404)["code"] == "not_found"


def test_put_is_not_allowed(admin_client: APIClient, user: User) -> None:
    before = snapshot(user)
    response = admin_client.put(
        user_url(user.pk), {"email": user.email, "full_name": "Put", "role": "admin", "is_active": True}, format="json"
    )
    body = assert_problem(response, 405)
    assert body["code"] == "method_not_allowed"
    assert snapshot(user) == before


def test_patch_user(admin_client: APIClient, user: User) -> None:
    response = admin_client.patch(
        user_url(user.pk, slash=False),
        {"email": " Renamed@Example.COM", "full_name": "Renamed", "role": "admin"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == "renamed@example.com"
    assert body["full_name"] == "Renamed"
    assert body["role"] == "admin"

    user.refresh_from_db()
    assert user.email == "renamed@example.com"
    assert user.full_name == "Renamed"
    assert user.role == Role.ADMIN
    assert user.is_admin


def test_patch_user_is_active(admin_client: APIClient, user: User) -> None:
    response = admin_client.patch(user_url(user.pk), {"is_active": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False
    user.refresh_from_db()
    assert user.is_active is False

    response = admin_client.patch(user_url(user.pk), {"is_active": True}, format="json")
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.is_active is True


def test_patch_user_after_email_change_logs_in_with_the_new_email(
    admin_client: APIClient, api_client: APIClient, user: User
) -> None:
    old_email = user.email
    assert admin_client.patch(user_url(user.pk), {"email": "moved@example.com"}, format="json").status_code == 200
    assert login(api_client, "moved@example.com").status_code == 200
    assert_problem(login(api_client, old_email), 401)


def test_patch_with_a_duplicate_email_changes_nothing_else(
    admin_client: APIClient, user: User, other_user: User
) -> None:
    before = snapshot(user)
    response = admin_client.patch(
        user_url(user.pk), {"email": other_user.email, "full_name": "Changed", "role": "admin"}, format="json"
    )
    assert_invalid(response, "email")
    assert snapshot(user) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"role": "superuser"}, "role"),
        ({"is_active": None}, "is_active"),
        ({"full_name": "x" * 151}, "full_name"),
    ],
)
def test_patch_refuses_invalid_values(admin_client: APIClient, user: User, data: dict[str, Any], field: str) -> None:
    before = snapshot(user)
    assert_invalid(admin_client.patch(user_url(user.pk), data, format="json"), field)
    assert snapshot(user) == before


def test_patch_keeping_the_same_email_in_another_case(admin_client: APIClient, user: User) -> None:
    response = admin_client.patch(user_url(user.pk), {"email": user.email.upper()}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == user.email


# Admin: deactivating ---------------------------------------------------------------------------


@pytest.mark.parametrize("slash", [True, False])
def test_delete_deactivates_and_keeps_everything(
    admin_client: APIClient, api_client: APIClient, user: User, slash: bool
) -> None:
    tasks = TaskFactory.create_batch(2, owner=user)
    pair = issue_token_pair(user)

    response = admin_client.delete(user_url(user.pk, slash))
    assert response.status_code == 204, response.content
    assert response.content == b""

    user.refresh_from_db()
    assert user.is_active is False
    assert set(Task.objects.filter(owner=user).values_list("id", flat=True)) == {task.pk for task in tasks}

    assert_problem(api_client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {pair.access_token}"), 401)
    assert_problem(api_client.post("/api/v1/auth/refresh", {"refresh_token": pair.refresh_token}, format="json"), 401)
    assert_problem(login(api_client, user.email), 401)

    # The account is still listed, as inactive.
    shown = admin_client.get(user_url(user.pk)).json()
    assert shown["is_active"] is False


def test_delete_twice_is_harmless(admin_client: APIClient, user: User) -> None:
    assert admin_client.delete(user_url(user.pk)).status_code == 204
    assert admin_client.delete(user_url(user.pk)).status_code == 204
    assert User.objects.filter(pk=user.pk, is_active=False).exists()


# The last active admin -------------------------------------------------------------------------


def test_last_admin_cannot_be_demoted(admin_client: APIClient, admin_user: User) -> None:
    before = snapshot(admin_user)
    response = admin_client.patch(user_url(admin_user.pk), {"role": "user", "full_name": "Demoted"}, format="json")
    body = assert_invalid(response, "role")
    assert "admin" in " ".join(body["errors"]["role"]).lower()
    assert snapshot(admin_user) == before
    assert admin_client.get(USERS_URL).status_code == 200


def test_last_admin_cannot_be_deleted(admin_client: APIClient, admin_user: User) -> None:
    before = snapshot(admin_user)
    response = admin_client.delete(user_url(admin_user.pk))
    assert response.status_code == 400, response.content
    body = response.json()
    assert "admin" in str(body).lower()
    assert snapshot(admin_user) == before
    assert admin_client.get(USERS_URL).status_code == 200


def test_an_inactive_admin_does_not_count(admin_client: APIClient, admin_user: User) -> None:
    AdminFactory.create(is_active=False)
    before = snapshot(admin_user)
    assert_invalid(admin_client.patch(user_url(admin_user.pk), {"role": "user"}, format="json"), "role")
    assert_invalid(admin_client.patch(user_url(admin_user.pk), {"is_active": False}, format="json"), "is_active")
    assert admin_client.delete(user_url(admin_user.pk)).status_code == 400
    assert snapshot(admin_user) == before


def test_an_admin_can_step_down_when_another_remains(
    admin_client: APIClient, admin_user: User, client_for: Callable[[User], APIClient]
) -> None:
    successor = AdminFactory.create()
    response = admin_client.patch(user_url(admin_user.pk), {"role": "user"}, format="json")
    assert response.status_code == 200, response.content
    admin_user.refresh_from_db()
    assert admin_user.role == Role.USER

    # The former admin lost admin access at once; the successor has it.
    assert_problem(admin_client.get(USERS_URL), 403)
    assert client_for(successor).get(USERS_URL).status_code == 200


def test_one_of_two_admins_can_be_deleted(admin_client: APIClient, admin_user: User) -> None:
    second = AdminFactory.create()
    assert admin_client.delete(user_url(second.pk)).status_code == 204
    assert admin_client.delete(user_url(admin_user.pk)).status_code == 400
    assert User.objects.active_admins().get() == admin_user


def test_demoting_an_inactive_admin_is_allowed(admin_client: APIClient, admin_user: User) -> None:
    retired = AdminFactory.create(is_active=False)
    response = admin_client.patch(user_url(retired.pk), {"role": "user"}, format="json")
    assert response.status_code == 200, response.content
    retired.refresh_from_db()
    assert retired.role == Role.USER


# Who may use the admin endpoints ---------------------------------------------------------------

ADMIN_REQUESTS: list[tuple[str, Callable[[APIClient, User], Any]]] = [
    ("list", lambda c, u: c.get(USERS_URL)),
    ("create", lambda c, u: c.post(USERS_URL, {"email": "x@example.com", "password": NEW_PASSWORD}, format="json")),
    ("retrieve", lambda c, u: c.get(user_url(u.pk))),
    ("patch", lambda c, u: c.patch(user_url(u.pk), {"role": "user", "full_name": "Hijacked"}, format="json")),
    ("delete", lambda c, u: c.delete(user_url(u.pk))),
]


@pytest.mark.parametrize(
    ("caller", "status", "challenge"),
    [("user_client", 403, None), ("api_client", 401, 'Bearer realm="api"')],
    ids=["a user is forbidden", "anonymous callers must log in"],
)
@pytest.mark.parametrize("request_", [r for _, r in ADMIN_REQUESTS], ids=[name for name, _ in ADMIN_REQUESTS])
def test_the_admin_endpoints_refuse_everyone_else_and_change_nothing(
    request: pytest.FixtureRequest,
    admin_user: User,
    request_: Callable[[APIClient, User], Any],
    caller: str,
    status: int,
    challenge: str | None,
) -> None:
    client = request.getfixturevalue(caller)
    before = snapshot(admin_user)
    count = User.objects.count()
    response = request_(client, admin_user)
    body = assert_problem(response, status)
    assert "email" not in body
    assert response.get("WWW-Authenticate") == challenge
    assert snapshot(admin_user) == before
    assert User.objects.count() == count


def test_a_user_cannot_act_on_their_own_account_through_admin_endpoints(user_client: APIClient, user: User) -> None:
    before = snapshot(user)
    assert_problem(user_client.get(user_url(user.pk)), 403)
    assert_problem(user_client.patch(user_url(user.pk), {"role": "admin"}, format="json"), 403)
    assert_problem(user_client.delete(user_url(user.pk)), 403)
    assert snapshot(user) == before


def test_a_deactivated_admin_loses_admin_access(
    admin_client: APIClient, admin_user: User, client_for: Callable[[User], APIClient]
) -> None:
    other_admin = AdminFactory.create()
    other_client = client_for(other_admin)
    assert other_client.delete(user_url(admin_user.pk)).status_code == 204
    assert_problem(admin_client.get(USERS_URL), 401)
