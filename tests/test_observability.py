"""Request ids, one log line per request, JSON logs, metrics and error reporting."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from common.logging import JSONFormatter, TextFormatter

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def test_an_incoming_request_id_is_honoured_and_returned() -> None:
    response = Client().get("/health/live", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("incoming", [None, "", "x" * 200, "bad id with spaces", "<script>"])
def test_a_missing_or_unsafe_request_id_is_replaced(incoming: str | None) -> None:
    headers = {} if incoming is None else {"HTTP_X_REQUEST_ID": incoming}
    response = Client().get("/health/live", **headers)  # type: ignore[arg-type]
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] != incoming


def test_each_request_is_logged_once_with_its_facts(
    user_client: APIClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="requests"):
        user_client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="req-7")
    [line] = [record for record in caplog.records if record.name == "requests"]
    assert line.method == "GET"  # type: ignore[attr-defined]
    assert line.path == "/api/v1/users/me"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]
    assert line.user_id == user.pk  # type: ignore[attr-defined]
    assert line.request_id == "req-7"  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_extra_fields() -> None:
    record = logging.LogRecord("requests", logging.INFO, __file__, 1, "GET / %s", (200,), None)
    record.request_id = "r-1"
    record.user_id = 5
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "GET / 200"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "r-1"
    assert entry["user_id"] == 5
    assert entry["time"].endswith("+00:00")


def test_text_log_lines_are_readable() -> None:
    record = logging.LogRecord("security", logging.INFO, __file__, 1, "security event %s", ("logout",), None)
    record.user_id = 5
    line = TextFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert line == "INFO security security event logout user_id=5"


def test_production_logs_json_and_debug_logs_text() -> None:
    code = "import config.settings as s; print(s.LOGGING['handlers']['console']['formatter'])"
    base = {"PATH": os.environ.get("PATH", ""), "SECRET_KEY": "s3cr3t-" * 8, "JWT_SECRET_KEY": "jwt-k3y-" * 8}
    for debug, expected in (("false", "json"), ("true", "text")):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], cwd=ROOT, env={**base, "DEBUG": debug}, capture_output=True, text=True
        )
        assert result.stdout.strip() == expected, result.stderr


def test_metrics_are_not_public_by_default() -> None:
    assert Client().get("/metrics").status_code == 404


def test_metrics_need_the_token(settings: Settings) -> None:
    settings.METRICS_TOKEN = "scrape-me"
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404


def test_metrics_count_requests_latency_and_queries_by_view(settings: Settings, user: User) -> None:
    settings.METRICS_TOKEN = "scrape-me"
    client = Client()
    client.get("/health/ready")
    client.get("/api/v1/tasks/")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'http_requests_total{method="GET",status="200",view="health-ready"}' in text
    assert 'http_requests_total{method="GET",status="401",view="task-list"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",view="health-ready"}' in text
    assert 'http_request_db_queries_count{view="health-ready"}' in text


def test_sentry_is_set_up_when_a_dsn_is_given() -> None:
    code = (
        "import config.settings, sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.options['max_request_body_size'], c.options['before_send'].__name__,"
        " c.options['environment'])"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "true",
        "SENTRY_DSN": "https://public@sentry.example.com/1",
        "SENTRY_ENVIRONMENT": "staging",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    assert result.stdout.split() == ["True", "never", "scrub_event", "staging"], result.stderr


def test_made_up_http_methods_share_one_series(settings: Settings) -> None:
    settings.METRICS_TOKEN = "scrape-me"
    client = Client()

    def series() -> set[str]:
        text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("http_request")}

    before = series()
    for n in range(30):
        client.generic(f"MADEUP{n}", "/health/live")
        client.generic(f"X{n}", "/api/v1/users/me")
    new = series() - before - {'http_requests_total{method="GET",status="200",view="metrics"}'}

    assert not [line for line in new if "MADEUP" in line or 'method="X' in line]
    requests = sorted(line for line in new if line.startswith("http_requests_total{"))
    # 60 requests with 60 methods: one series per view and status, all labelled "other".
    assert requests == [
        'http_requests_total{method="other",status="401",view="user-me"}',
        'http_requests_total{method="other",status="405",view="health-live"}',
    ]
