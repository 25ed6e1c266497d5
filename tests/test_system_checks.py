"""The token settings are Django system checks: `manage.py check` names each unsafe one by its id."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from pytest_django.fixtures import Settings


def test_check_passes_with_the_project_settings() -> None:
    out = StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


@pytest.mark.parametrize(
    ("override", "check_id"),
    [
        ({"BLACKLIST_AFTER_ROTATION": False}, "accounts.E001"),
        ({"ALGORITHM": "none"}, "accounts.E002"),
        ({"ISSUER": ""}, "accounts.E003"),
        ({"LEEWAY": 60}, "accounts.E004"),
    ],
)
def test_check_reports_an_unsafe_token_setting_by_its_id(
    settings: Settings, override: dict[str, object], check_id: str
) -> None:
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **override}
    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")
