"""Production settings and the headers a browser or load balancer meets."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "JWT_SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "api.example.com",
        "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
        **extra,
    }


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_deploy_check_passes_with_production_variables() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_asks_for_a_real_mail_server() -> None:
    env = production_env()
    del env["EMAIL_URL"]
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "email backend" in result.stderr


def test_deploy_check_fails_when_a_secure_default_is_turned_off() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(SESSION_COOKIE_SECURE="false"))
    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stderr


def test_the_gunicorn_config_loads_with_sane_values() -> None:
    code = "import runpy; c = runpy.run_path('config/gunicorn.py'); print(c['bind'], c['workers'] > 0, c['timeout'])"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env={"PORT": "9000"}, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == ["0.0.0.0:9000", "True", "30"], result.stderr


@pytest.fixture
def https(settings: Settings) -> Settings:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    return settings


def test_plain_http_is_redirected_to_https(https: Settings) -> None:
    response = Client().get("/api/v1/tasks/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/tasks/"


@pytest.mark.django_db
def test_health_checks_answer_over_plain_http(https: Settings) -> None:
    assert Client().get("/health/live").status_code == 200
    assert Client().get("/health/ready").status_code == 200


def test_https_responses_carry_hsts_and_hardening_headers(https: Settings) -> None:
    response = Client().get("/api/v1/tasks/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/redoc/"])
def test_admin_and_docs_pages_carry_a_content_security_policy(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"


def test_the_swagger_page_s_inline_script_carries_the_policy_nonce() -> None:
    response = Client().get("/api/docs/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", response.content.decode())
    assert inline_scripts
    for attributes in inline_scripts:
        assert f'nonce="{nonce.group(1)}"' in attributes


def test_cors_allows_only_the_configured_origins(settings: Settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    allowed = Client().options(
        "/api/v1/tasks/", HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = Client().options(
        "/api/v1/tasks/", HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.django_db
def test_cors_lets_browser_clients_use_the_contract_headers(settings: Settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    preflight = Client().options(
        "/api/v1/tasks/1/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, if-match, idempotency-key",
    )
    allowed = {name.strip() for name in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"if-match", "if-none-match", "idempotency-key"} <= allowed
    answer = Client().post(
        "/api/v1/auth/login", {}, content_type="application/json", HTTP_ORIGIN="https://app.example.com"
    )
    exposed = {name.strip() for name in answer["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "ratelimit", "ratelimit-policy", "retry-after", "idempotent-replayed"} <= exposed
    assert "RateLimit" in answer


def test_admin_session_cookies_are_secure_and_http_only_in_production() -> None:
    env = production_env()
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == ["True", "True", "True", "True"], result.stderr


def test_security_settings_follow_their_variables() -> None:
    env = production_env(
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="60",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CSRF_TRUSTED_ORIGINS="https://api.example.com",
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(repr((s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.CSRF_TRUSTED_ORIGINS)))"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "(False, 60, ('HTTP_X_FORWARDED_PROTO', 'https'), ['https://api.example.com'])"
