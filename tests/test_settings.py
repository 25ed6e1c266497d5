"""Settings come from the environment, and production refuses to start on unsafe secrets."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.variables import settings_variables

ROOT = Path(__file__).resolve().parent.parent
STRONG_SECRET = "s3cr3t-" * 8
STRONG_JWT_SECRET = "jwt-k3y-" * 8


def load_settings(env: dict[str, str], expression: str = "'loaded'") -> subprocess.CompletedProcess[str]:
    """Import the production settings in a fresh interpreter with exactly `env` (and no .env file)."""
    code = (
        "import environ; environ.Env.read_env = staticmethod(lambda *a, **k: None)\n"
        f"import config.settings as s; print(repr(({expression})))"
    )
    clean_env = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": STRONG_SECRET}, "JWT_SECRET_KEY"),
        ({"SECRET_KEY": "change-me", "JWT_SECRET_KEY": STRONG_JWT_SECRET}, "SECRET_KEY"),
        ({"SECRET_KEY": "short", "JWT_SECRET_KEY": STRONG_JWT_SECRET}, "SECRET_KEY"),
        ({"SECRET_KEY": STRONG_SECRET, "JWT_SECRET_KEY": "dev-secret"}, "JWT_SECRET_KEY"),
        ({"SECRET_KEY": STRONG_SECRET, "JWT_SECRET_KEY": STRONG_SECRET}, "JWT_SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "", "JWT_SECRET_KEY": STRONG_JWT_SECRET}, "SECRET_KEY"),
    ],
)
def test_debug_off_refuses_to_start_without_real_secrets(env: dict[str, str], named: str) -> None:
    result = load_settings(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.strip().splitlines()[-1]


def test_debug_off_starts_with_real_secrets() -> None:
    result = load_settings({"SECRET_KEY": STRONG_SECRET, "JWT_SECRET_KEY": STRONG_JWT_SECRET}, "s.DEBUG")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_is_off_by_default_and_on_only_when_asked() -> None:
    assert load_settings({"DEBUG": "true"}, "s.DEBUG").stdout.strip() == "True"


def test_debug_on_defaults_to_the_earlier_templates_admin() -> None:
    result = load_settings({"DEBUG": "true"}, "s.ADMIN_EMAIL, s.ADMIN_PASSWORD")
    assert result.stdout.strip() == "('admin@local.com', 'admin123456')"


def test_debug_off_has_no_default_admin_password() -> None:
    env = {"SECRET_KEY": STRONG_SECRET, "JWT_SECRET_KEY": STRONG_JWT_SECRET}
    assert load_settings(env, "s.ADMIN_PASSWORD").stdout.strip() == "''"


def test_empty_variables_mean_the_default() -> None:
    env = {"DEBUG": "true", "DATABASE_URL": "", "REDIS_URL": "", "ACCESS_TOKEN_LIFETIME_MINUTES": ""}
    result = load_settings(
        env, "s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'], s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME']"
    )
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout
    assert "LocMemCache" in result.stdout
    assert "timedelta(seconds=900)" in result.stdout


def test_variables_configure_database_cache_and_token_lifetimes() -> None:
    env = {
        "DEBUG": "true",
        "DATABASE_URL": "postgres://app:pw@db:5432/app",
        "REDIS_URL": "redis://cache:6379/0",
        "ACCESS_TOKEN_LIFETIME_MINUTES": "5",
        "REFRESH_TOKEN_LIFETIME_DAYS": "30",
        "ALLOWED_HOSTS": "api.example.com,www.example.com",
    }
    result = load_settings(
        env,
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST'], s.CACHES['default']['BACKEND'],"
        " s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].seconds, s.SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'].days, s.ALLOWED_HOSTS",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "('django.db.backends.postgresql', 'db', 'common.cache.FallbackRedisCache', 300, 30,"
        " ['api.example.com', 'www.example.com'])"
    )


def test_tokens_are_signed_with_their_own_key_and_a_pinned_algorithm() -> None:
    env = {"SECRET_KEY": STRONG_SECRET, "JWT_SECRET_KEY": STRONG_JWT_SECRET}
    result = load_settings(
        env, "s.SIMPLE_JWT['SIGNING_KEY'] == s.JWT_SECRET_KEY != s.SECRET_KEY, s.SIMPLE_JWT['ALGORITHM']"
    )
    assert result.stdout.strip() == "(True, 'HS256')"


def test_every_variable_read_is_documented_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    assert not set(settings_variables()) - documented


def test_the_configuration_page_names_only_variables_the_settings_read() -> None:
    rows = re.findall(r"^\| (`.+?) \|", (ROOT / "docs" / "configuration.md").read_text(), re.MULTILINE)
    named = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
    assert len(named) > 40  # the table was read
    assert not named - set(settings_variables())


def test_each_variable_the_settings_read_is_read_by_a_call_that_names_it(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.py"
    settings_file.write_text('DEBUG = env.bool("DEBUG")\nNAME = "LOG_LEVEL"\nLOG_LEVEL = env.str(NAME)\n')
    with pytest.raises(ValueError, match=r"settings.py:3: env.str\(...\) must name its variable"):
        settings_variables(settings_file)


def test_mailed_links_follow_frontend_url_unless_password_reset_url_is_set() -> None:
    expression = "(s.FRONTEND_URL, s.PASSWORD_RESET_URL)"
    derived = load_settings({"DEBUG": "true", "FRONTEND_URL": "https://app.example.com/"}, expression)
    assert ast.literal_eval(derived.stdout) == (
        "https://app.example.com",
        "https://app.example.com/reset-password?uid={uid}&token={token}",
    )
    explicit = load_settings(
        {"DEBUG": "true", "PASSWORD_RESET_URL": "https://old.example.com/reset/{uid}/{token}"}, expression
    )
    assert ast.literal_eval(explicit.stdout) == ("http://localhost:3000", "https://old.example.com/reset/{uid}/{token}")


def test_a_bad_refresh_cookie_samesite_is_refused() -> None:
    result = load_settings({"DEBUG": "true", "REFRESH_COOKIE_SAMESITE": "sometimes"})
    assert result.returncode != 0
    assert "REFRESH_COOKIE_SAMESITE must be Strict, Lax or None" in result.stderr


# No public signing key ------------------------------------------------------------------------


def test_debug_without_keys_makes_random_ones_once_and_keeps_them() -> None:
    first = load_settings({"DEBUG": "true"}, "s.SECRET_KEY, s.JWT_SECRET_KEY, str(s.DEV_KEYS_FILE)")
    again = load_settings({"DEBUG": "true"}, "s.SECRET_KEY, s.JWT_SECRET_KEY, str(s.DEV_KEYS_FILE)")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout  # a restart keeps the keys, so tokens stay valid
    secret_key, jwt_key, path = ast.literal_eval(first.stdout)
    assert Path(path) == ROOT / ".dev-keys.json"
    assert len(secret_key) >= 50
    assert len(jwt_key) >= 50
    assert secret_key != jwt_key
    source = "".join(path.read_text() for path in ROOT.glob("config/*.py"))
    assert secret_key not in source
    assert jwt_key not in source
    # The placeholders of .env.example count as unset: a copied .env still runs with DEBUG on.
    placeholders = load_settings(
        {"DEBUG": "true", "SECRET_KEY": "change-me", "JWT_SECRET_KEY": "change-me"}, "s.SECRET_KEY"
    )
    assert ast.literal_eval(placeholders.stdout) == secret_key


def test_development_keys_are_random_private_and_kept(tmp_path: Path) -> None:
    from config.dev_keys import development_keys

    path = tmp_path / ".dev-keys.json"
    made = development_keys(path)
    assert development_keys(path) == made
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert development_keys(tmp_path / "another") != made
    assert sorted(child.name for child in tmp_path.iterdir()) == [".dev-keys.json", "another"]  # no leftovers


def test_the_development_key_file_is_ignored_by_git_and_docker() -> None:
    assert ".dev-keys.json" in (ROOT / ".gitignore").read_text().split()
    assert ".dev-keys.json*" in (ROOT / ".dockerignore").read_text().split()


def test_a_copied_env_example_refuses_to_start_until_its_secrets_are_set() -> None:
    example = {
        key: value
        for key, _, value in (
            line.partition("=") for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line
        )
        if not key.startswith("#") and value
    }
    assert example["DEBUG"] == "false"
    result = load_settings(example)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr.strip().splitlines()[-1]
    # `make run` turns DEBUG on by itself, and the same file then works.
    assert load_settings({**example, "DEBUG": "true"}, "s.DEBUG").stdout.strip() == "True"


def test_an_empty_rate_limit_turns_it_off_and_any_other_empty_variable_means_its_default() -> None:
    env = {"DEBUG": "true", "THROTTLE_USER": "", "THROTTLE_ANON": "7/min", "CONN_MAX_AGE": "", "JWT_ISSUER": ""}
    result = load_settings(
        env,
        "s.THROTTLE_RATES['user'], s.THROTTLE_RATES['anon'], s.THROTTLE_RATES['refresh'],"
        " s.DATABASES['default']['CONN_MAX_AGE'], s.SIMPLE_JWT['ISSUER']",
    )
    assert result.returncode == 0, result.stderr
    assert ast.literal_eval(result.stdout) == (None, "7/min", "60/min", 60, "tasks-api")
