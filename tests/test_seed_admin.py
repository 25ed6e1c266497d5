from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


def run_seed() -> str:
    out = StringIO()
    call_command("seed_admin", stdout=out)
    return out.getvalue()


def test_creates_the_admin_from_the_environment(settings: Settings) -> None:
    settings.ADMIN_EMAIL = " Boss@Example.COM "
    settings.ADMIN_PASSWORD = "a-long-and-unusual-passphrase"
    assert "Created admin boss@example.com" in run_seed()
    admin = User.objects.get()
    assert admin.email == "boss@example.com"
    assert admin.role == Role.ADMIN
    assert admin.is_staff
    assert admin.check_password("a-long-and-unusual-passphrase")


def test_running_it_again_changes_nothing_and_says_so(settings: Settings) -> None:
    settings.ADMIN_EMAIL = "admin@local.com"
    settings.ADMIN_PASSWORD = "admin123456"
    run_seed()
    before = User.objects.values().get()
    settings.ADMIN_PASSWORD = "another-password-entirely"
    assert "already exists; nothing changed" in run_seed()
    assert User.objects.values().get() == before


@pytest.mark.parametrize(
    ("password", "message"),
    [("", "ADMIN_PASSWORD"), ("password", "too common")],
    ids=["without a password", "a password the validators reject"],
)
def test_refuses_to_run_and_creates_no_one(settings: Settings, password: str, message: str) -> None:
    settings.ADMIN_EMAIL = "admin@local.com"
    settings.ADMIN_PASSWORD = password
    with pytest.raises(CommandError, match=message):
        run_seed()
    assert not User.objects.exists()
