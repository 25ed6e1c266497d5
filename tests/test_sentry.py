"""Error reports never carry a secret: the event the Sentry SDK would send is captured and read."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from rest_framework.test import APIClient
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from accounts import services
from accounts.models import User
from accounts.tokens import issue_token_pair
from common.sentry import FILTERED, init_sentry, scrub

pytestmark = pytest.mark.django_db

# Made at run time: the reports include source lines around each frame, and a secret written in
# this file would be found there.
CURRENT, NEW, COOKIE, QUERY_SECRET, HEADER_SECRET = (f"secret-{uuid.uuid4().hex}" for _ in range(5))


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    """Sentry set up as production does it (`init_sentry`), sending to this list instead of the network."""
    events: list[dict[str, Any]] = []

    class CapturingTransport(Transport):
        def capture_envelope(self, envelope: Envelope) -> None:
            events.extend(item.payload.json for item in envelope.items if item.payload.json is not None)

    init_sentry(
        dsn="https://public@sentry.invalid/1", environment="test", traces_sample_rate=1.0, transport=CapturingTransport
    )
    yield events
    sentry_sdk.init()  # no DSN: nothing is reported by the tests that follow


def test_a_failing_password_change_reports_no_secret(
    user: User, sentry_events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = issue_token_pair(user)

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("the password store is down")

    monkeypatch.setattr(services, "user_change_password", fail)
    client = APIClient(raise_request_exception=False)
    client.cookies["sessionid"] = COOKIE
    response = client.post(
        f"/api/v1/users/me/password?reset_token={QUERY_SECRET}",
        {"current_password": CURRENT, "new_password": NEW},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {pair.access_token}",
        HTTP_X_API_KEY=HEADER_SECRET,
    )
    sentry_sdk.flush()

    assert response.status_code == 500
    errors = [event for event in sentry_events if event.get("level") == "error" or event.get("exception")]
    assert errors, sentry_events  # the failure was reported...
    assert any("the password store is down" in json.dumps(event) for event in errors)
    sent = json.dumps(sentry_events)
    for secret in (
        CURRENT,
        NEW,
        pair.access_token,
        pair.refresh_token,
        COOKIE,
        QUERY_SECRET,
        HEADER_SECRET,
    ):
        assert secret not in sent, (secret, sent)  # ...and none of what it carried


def test_secrets_are_scrubbed_whatever_their_name_or_place() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    event = {
        "request": {
            "data": {"current_password": CURRENT, "newPassword": NEW, "profile": {"full_name": "Ada"}},
            "headers": [["Authorization", f"Bearer {token}"], ["Accept", "application/json"]],
            "query_string": "page=2&refresh_token=abc&x=1",
        },
        "extra": {"Refresh-Token": token, "JWT_SECRET_KEY": "k"},
        "message": f"could not decode {token}",
        "breadcrumbs": {"values": [{"message": "login", "data": {"passwd": "p", "user_id": 3}}]},
    }
    scrubbed = scrub(event)
    assert scrubbed["request"]["data"] == {
        "current_password": FILTERED,
        "newPassword": FILTERED,
        "profile": {"full_name": "Ada"},
    }
    assert scrubbed["request"]["headers"] == [["Authorization", FILTERED], ["Accept", "application/json"]]
    assert scrubbed["request"]["query_string"] == f"page=2&refresh_token={FILTERED}&x=1"
    assert scrubbed["extra"] == {"Refresh-Token": FILTERED, "JWT_SECRET_KEY": FILTERED}
    assert scrubbed["message"] == f"could not decode {FILTERED}"
    assert scrubbed["breadcrumbs"]["values"][0]["data"] == {"passwd": FILTERED, "user_id": 3}
