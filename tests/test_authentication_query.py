"""The statement that authenticates every request, compiled once per connection
(`User.objects.for_session`): the same SQL and the same user as the ORM's queryset, and every
session-state rule still enforced once it has been compiled."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import DjangoAssertNumQueries
from rest_framework.test import APIClient

from accounts.models import RefreshTokenFamily, User
from accounts.tokens import issue_token_pair
from tests.auth_helpers import assert_unauthorized, claims_of, me

pytestmark = pytest.mark.django_db


def statements(call: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return [query["sql"] for query in captured.captured_queries]


def test_the_compiled_statement_is_the_querysets_and_loads_the_same_user(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = claims_of(issue_token_pair(user).access_token)["sid"]
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    for _ in range(2):  # compiled at the first call, reused at the second
        compiled = statements(lambda: User.objects.for_session(user_id=user.pk, session_id=session_id))
        built = statements(lambda: User.objects.with_session_state(session_id, now=now).filter(pk=user.pk).first())
        assert compiled == built
    loaded = User.objects.for_session(user_id=user.pk, session_id=session_id)
    expected = User.objects.with_session_state(session_id, now=now).filter(pk=user.pk).first()
    assert loaded is not None
    assert expected is not None
    fields = [field.attname for field in User._meta.concrete_fields]
    assert [getattr(loaded, name) for name in fields] == [getattr(expected, name) for name in fields]
    assert loaded.session_live is True
    assert loaded.date_joined.tzinfo is not None
    assert loaded._state.adding is False
    assert loaded._state.db == expected._state.db


def test_no_user_or_no_live_session(user: User, other_user: User) -> None:
    session_id = claims_of(issue_token_pair(user).access_token)["sid"]
    assert User.objects.for_session(user_id=user.pk + other_user.pk + 1, session_id=session_id) is None
    assert User.objects.for_session(user_id=other_user.pk, session_id=session_id).session_live is False  # type: ignore[union-attr]
    assert User.objects.for_session(user_id=user.pk, session_id=session_id + 1).session_live is False  # type: ignore[union-attr]


def expire_sessions(user: User) -> None:
    RefreshTokenFamily.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))


def revoke_all_tokens(user: User) -> None:
    User.objects.filter(pk=user.pk).update(token_version=user.token_version + 1)


def deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.parametrize("end", [expire_sessions, revoke_all_tokens, deactivate])
def test_a_token_that_worked_is_refused_once_its_session_or_user_changes(
    api_client: APIClient,
    user: User,
    end: Callable[[User], None],
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    access = issue_token_pair(user).access_token
    for _ in range(2):  # the statement is compiled by now
        with django_assert_num_queries(1):
            assert me(api_client, access).status_code == 200
    end(user)
    with django_assert_num_queries(1):
        assert_unauthorized(me(api_client, access))
