"""Rules the database itself enforces, whatever code path writes."""

import os

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_emails_are_unique_whatever_their_case_even_around_the_normalizer() -> None:
    UserFactory.create(email="someone@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        # A raw insert skips every normalization the app does: only the constraint stands.
        User.objects.bulk_create([User(email="SomeOne@Example.com", password="!")])


def test_the_manager_stores_emails_lower_cased_and_trimmed() -> None:
    user = User.objects.create_user(" Mixed.Case@Example.COM ", "a-long-passphrase-1")
    assert user.email == "mixed.case@example.com"
    assert User.objects.get_by_natural_key("MIXED.case@example.com") == user


def test_role_decides_admin_site_access() -> None:
    admin = User(role=Role.ADMIN)
    user = User(role=Role.USER)
    inactive_admin = User(role=Role.ADMIN, is_active=False)
    assert (admin.is_staff, admin.is_superuser, admin.has_perm("tasks.change_task")) == (True, True, True)
    assert (user.is_staff, user.is_superuser, user.has_module_perms("tasks")) == (False, False, False)
    assert (inactive_admin.is_staff, inactive_admin.has_perms(["x"])) == (False, False)


def test_create_superuser_makes_an_admin() -> None:
    admin = User.objects.create_superuser("root@example.com", "a-long-passphrase-2")
    assert admin.role == Role.ADMIN
    assert admin.is_superuser


def test_str_is_the_email() -> None:
    assert str(User(email="x@example.com")) == "x@example.com"


def test_database_vendor_is_what_ci_asked_for(pytestconfig: pytest.Config) -> None:
    """`.ci/run` sets REQUIRE_POSTGRES so that the PostgreSQL pass can never fall back to SQLite."""

    expected = {"postgresql"} if os.environ.get("REQUIRE_POSTGRES") else {"postgresql", "sqlite"}
    assert connection.vendor in expected
