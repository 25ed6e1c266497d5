"""Query budgets of the account endpoints, authentication's own statements included."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import DjangoAssertNumQueries
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def count_queries(call: Callable[[], object]) -> int:
    """Statements run by `call`, not counting the savepoints of the test's own transaction."""
    with CaptureQueriesContext(connection) as captured:
        call()
    return sum(1 for query in captured.captured_queries if "SAVEPOINT" not in query["sql"])


def test_me_takes_one_query(user_client: APIClient, django_assert_num_queries: DjangoAssertNumQueries) -> None:
    with django_assert_num_queries(1):
        assert user_client.get("/api/v1/users/me").status_code == 200


def test_listing_users_costs_the_same_for_1_or_50(admin_client: APIClient) -> None:
    one = count_queries(lambda: admin_client.get("/api/v1/users/", {"page_size": 100}))
    UserFactory.create_batch(50)
    fifty = count_queries(lambda: admin_client.get("/api/v1/users/", {"page_size": 100}))
    assert one == fifty == 3  # authentication, count, page


def test_login_takes_a_fixed_small_number_of_queries(api_client: APIClient, user: User) -> None:
    queries = count_queries(
        lambda: api_client.post("/api/v1/auth/login", {"username": user.email, "password": DEFAULT_PASSWORD})
    )
    # the user, its last_login, the new session (token family), the refresh token's record
    assert queries == 4


def test_refresh_takes_a_fixed_small_number_of_queries(api_client: APIClient, user: User) -> None:
    login = api_client.post("/api/v1/auth/login", {"username": user.email, "password": DEFAULT_PASSWORD})
    refresh_token = login.json()["refresh_token"]
    queries = count_queries(
        lambda: api_client.post("/api/v1/auth/refresh", {"refresh_token": refresh_token}, format="json")
    )
    # the user, the session (locked), the presented token's record, its rotation, the session's
    # new expiry, the new token's record
    assert queries == 6
