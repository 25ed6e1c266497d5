"""The user services called directly: creation, updates, the last-admin rule, passwords."""

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import RefreshTokenFamily, Role, User
from common.client import Client
from tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory

pytestmark = pytest.mark.django_db

CLIENT = Client(address="203.0.113.7")
NEW_PASSWORD = "another-long-passphrase-42"


def test_user_create_stores_the_email_normalised() -> None:
    user = services.user_create(email="  New.Person@Example.COM ", password=DEFAULT_PASSWORD)
    assert user.email == "new.person@example.com"
    assert user.check_password(DEFAULT_PASSWORD)


def test_user_create_refuses_an_email_taken_in_another_case(user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        services.user_create(email=user.email.upper(), password=DEFAULT_PASSWORD)
    assert refused.value.message_dict == {"email": [services.DUPLICATE_EMAIL]}
    assert User.objects.count() == 1


def test_user_create_refuses_a_weak_password_on_the_password_field() -> None:
    with pytest.raises(ValidationError) as refused:
        services.user_create(email="weak@example.com", password="123")
    assert set(refused.value.message_dict) == {"password"}
    assert not User.objects.exists()


def test_user_update_changes_only_the_fields_given(user: User) -> None:
    before = (user.email, user.role, user.is_active)
    services.user_update(user=user, full_name="Renamed")
    user.refresh_from_db()
    assert user.full_name == "Renamed"
    assert (user.email, user.role, user.is_active) == before


def test_user_update_refuses_an_email_another_account_has(user: User, other_user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        services.user_update(user=user, email=f" {other_user.email.upper()}")
    assert refused.value.message_dict == {"email": [services.DUPLICATE_EMAIL]}
    user.refresh_from_db()
    assert user.email != other_user.email


def test_user_update_keeps_the_own_email_in_another_case(user: User) -> None:
    services.user_update(user=user, email=user.email.upper())
    user.refresh_from_db()
    assert user.email == user.email.lower()


def test_user_update_refuses_to_demote_the_last_active_admin(admin_user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        services.user_update(user=admin_user, role=Role.USER)
    assert refused.value.message_dict == {"role": [services.LAST_ADMIN_DEMOTE]}
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_user_update_refuses_to_deactivate_the_last_active_admin(admin_user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        services.user_deactivate(user=admin_user)
    assert refused.value.message_dict == {"is_active": [services.LAST_ADMIN_DEACTIVATE]}


def test_user_update_demotes_an_admin_when_another_remains(admin_user: User) -> None:
    AdminFactory.create()
    services.user_update(user=admin_user, role=Role.USER)
    admin_user.refresh_from_db()
    assert admin_user.role == Role.USER


def test_deactivation_ends_every_session_and_refuses_access_tokens(user: User) -> None:
    services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    version = user.token_version
    services.user_deactivate(user=user)
    user.refresh_from_db()
    assert not user.is_active
    assert user.token_version != version
    assert not RefreshTokenFamily.objects.of(user).live().exists()


def test_user_change_password_needs_the_current_one(user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        services.user_change_password(
            user=user, current_password="wrong-password", new_password=NEW_PASSWORD, client=CLIENT
        )
    assert set(refused.value.message_dict) == {"current_password"}
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_user_change_password_sets_it_and_ends_every_session(user: User) -> None:
    services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    services.user_change_password(
        user=user, current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD, client=CLIENT
    )
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not RefreshTokenFamily.objects.of(user).live().exists()


def test_password_reset_request_for_an_unknown_email_does_nothing_visible() -> None:
    services.password_reset_request(email="nobody@example.com")  # no error: the caller answers the same


def test_password_reset_confirm_refuses_a_bad_link(user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        services.password_reset_confirm(uid="bm9wZQ", token="bad", new_password=NEW_PASSWORD)
    assert refused.value.message_dict == {"token": [services.INVALID_RESET_LINK]}


def test_ensure_email_free_answers_the_normalised_email() -> None:
    UserFactory.create(email="taken@example.com")
    assert services.ensure_email_free(email=" Free@Example.com") == "free@example.com"
    with pytest.raises(ValidationError):
        services.ensure_email_free(email="TAKEN@example.com")
