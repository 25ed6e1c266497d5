"""The auth services called directly: login, refresh, logout and their refusals."""

import pytest

from accounts import services
from accounts.models import RefreshTokenFamily, User
from common.client import Client
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CLIENT = Client(address="203.0.113.7", user_agent="pytest")


def test_auth_login_opens_a_session_and_records_the_login(user: User) -> None:
    pair = services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    assert pair.access_token
    assert pair.refresh_token
    session = RefreshTokenFamily.objects.of(user).live().get()
    assert (session.ip_address, session.user_agent) == ("203.0.113.7", "pytest")
    user.refresh_from_db()
    assert user.last_login is not None


def test_auth_login_matches_the_email_whatever_its_case_and_spaces(user: User) -> None:
    services.auth_login(email=f"  {user.email.upper()} ", password=DEFAULT_PASSWORD, client=CLIENT)
    assert RefreshTokenFamily.objects.of(user).live().exists()


@pytest.mark.parametrize("case", ["wrong-password", "unknown-email", "inactive"])
def test_auth_login_refuses_every_bad_credential_with_one_error(case: str) -> None:
    user = UserFactory.create(is_active=case != "inactive")
    email = "nobody@example.com" if case == "unknown-email" else user.email
    password = "wrong-password" if case == "wrong-password" else DEFAULT_PASSWORD
    with pytest.raises(services.AuthenticationError) as refused:
        services.auth_login(email=email, password=password, client=CLIENT)
    assert (refused.value.code, refused.value.detail) == ("invalid_credentials", services.INVALID_CREDENTIALS)
    assert not RefreshTokenFamily.objects.exists()


def test_auth_login_is_rate_limited_after_repeated_failures_even_with_the_right_password(user: User) -> None:
    for _ in range(1000):
        try:
            services.auth_login(email=user.email, password="wrong-password", client=CLIENT)
        except services.AuthenticationError:
            continue
        except services.RateLimitedError:
            break
    with pytest.raises(services.RateLimitedError) as limited:
        services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    assert limited.value.wait > 0


def test_auth_refresh_rotates_the_pair_and_refuses_the_old_token_as_reuse(user: User) -> None:
    first = services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    second = services.auth_refresh(refresh_token=first.refresh_token, client=CLIENT)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(services.AuthenticationError):
        services.auth_refresh(refresh_token=first.refresh_token, client=CLIENT)
    # Reuse revokes the whole family: the newer token is refused too.
    with pytest.raises(services.AuthenticationError):
        services.auth_refresh(refresh_token=second.refresh_token, client=CLIENT)


def test_auth_refresh_refuses_a_token_that_is_not_one() -> None:
    with pytest.raises(services.AuthenticationError) as refused:
        services.auth_refresh(refresh_token="not-a-token", client=CLIENT)
    assert refused.value.code == "token_not_valid"


def test_auth_logout_ends_the_session(user: User) -> None:
    pair = services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    services.auth_logout(refresh_token=pair.refresh_token)
    assert not RefreshTokenFamily.objects.of(user).live().exists()
    with pytest.raises(services.AuthenticationError):
        services.auth_refresh(refresh_token=pair.refresh_token, client=CLIENT)


def test_auth_logout_all_ends_every_session_and_counts_them(user: User) -> None:
    for _ in range(3):
        services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=CLIENT)
    assert services.auth_logout_all(user=user) == 3
    assert not RefreshTokenFamily.objects.of(user).live().exists()
