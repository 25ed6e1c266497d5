"""The demo front end (`examples/web/`) in Chromium, on its own origin beside the API's.

Three origins, all on this machine: the API (the live server), the demo page (a static server this
module starts), and a third page the API does not list in `CORS_ALLOWED_ORIGINS`. Chromium comes
as for `tests/test_browser.py` (skipped where missing, a failure with `CI` or `REQUIRE_BROWSER`).
"""

import importlib.util
import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from pytest_django.fixtures import Settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken

from accounts import tokens
from accounts.models import RefreshTokenFamily, User
from tasks.models import Task, TaskStatus
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.test_browser import browser  # noqa: F401 (the module's browser fixture)


def _demo_server_module() -> Any:
    """`examples/web/serve.py`, the demo's own server (an example, not a package of the project)."""
    path = Path(__file__).resolve().parent.parent / "examples" / "web" / "serve.py"
    spec = importlib.util.spec_from_file_location("demo_serve", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve = _demo_server_module()

# Ports of this module's static servers: a small fixed range, never a port of the API's.
PORTS = range(8500, 8600)
TIMEOUT_MS = 15_000


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture
def origins(live_server: Any, settings: Settings) -> Iterator[dict[str, str]]:
    """The demo page's origin (allowed by the API) and a third one (not allowed), both serving the page."""
    servers = [serve.serve_in_background(free_port(), live_server.url) for _ in range(2)]
    demo, other = (f"http://localhost:{server.server_address[1]}" for server in servers)
    settings.CORS_ALLOWED_ORIGINS = [demo]
    settings.FRONTEND_URL = demo
    yield {"api": live_server.url, "demo": demo, "other": other}
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:  # noqa: F811 (the imported fixture)
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Any:
    new_page = context.new_page()
    new_page.problems = []
    new_page.requested = []
    new_page.on("pageerror", lambda error: new_page.problems.append(str(error)))
    new_page.on("request", lambda request: new_page.requested.append(request.url))
    return new_page


def open_demo(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", state="attached")


def signed_in_as(page: Any, email: str) -> None:
    page.wait_for_selector("#signed-in", state="visible")
    assert page.locator("#me-email").inner_text() == email


def log_in(page: Any, email: str, password: str = DEFAULT_PASSWORD) -> None:
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")
    signed_in_as(page, email)


def link_of(message: Any) -> str:
    found = re.search(r"https?://\S+", str(message.body))
    assert found is not None, message.body
    return found.group(0)


def refresh_cookie(context: Any) -> dict[str, Any]:
    cookies = [cookie for cookie in context.cookies() if cookie["name"] == "refresh_token"]
    assert len(cookies) == 1, cookies
    return cookies[0]


def task_titles(page: Any) -> list[str]:
    return [title.strip() for title in page.locator("#tasks li .title").all_inner_texts()]


@pytest.mark.django_db(transaction=True)
def test_a_newcomer_signs_up_verifies_and_uses_the_demo(page: Any, context: Any, origins: dict[str, str]) -> None:
    open_demo(page, origins["demo"])
    page.wait_for_selector("#signed-out", state="visible")
    page.fill("#signup-name", "New Comer")
    page.fill("#signup-email", "newcomer@example.com")
    page.fill("#signup-password", "a-demo-passphrase-5")
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector("#message:has-text('Check your mailbox')")

    # The verification mail, read from the outbox, links to the demo page.
    assert [message.to for message in mail.outbox] == [["newcomer@example.com"]]
    link = link_of(mail.outbox[0])
    assert link.startswith(f"{origins['demo']}/verify-email?")
    open_demo(page, link)
    signed_in_as(page, "newcomer@example.com")
    assert User.objects.get(email="newcomer@example.com").email_verified_at is not None

    # The refresh token is an HttpOnly cookie of the API's, out of the page scripts' reach.
    cookie = refresh_cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["path"] == "/api/v1/auth/"
    assert cookie["sameSite"] == "Strict"
    assert "refresh_token" not in page.evaluate("document.cookie")

    # Tasks: create, complete, delete.
    for title in ("Buy milk", "Write the report", "Call the plumber"):
        page.fill("#task-title", title)
        page.click("#task-form button[type=submit]")
        page.wait_for_selector(f"#tasks li:has-text('{title}')")
    assert task_titles(page) == ["Buy milk", "Write the report", "Call the plumber"]
    page.click("#tasks li:has-text('Buy milk') button[name=complete]")
    page.wait_for_selector("#tasks li.done:has-text('Buy milk')")
    page.click("#tasks li:has-text('Call the plumber') button[name=delete]")
    page.wait_for_selector("#tasks li:has-text('Call the plumber')", state="detached")
    owner = User.objects.get(email="newcomer@example.com")
    assert dict(Task.objects.filter(owner=owner).values_list("title", "status")) == {
        "Buy milk": TaskStatus.DONE,
        "Write the report": TaskStatus.TODO,
    }

    # A reload forgets the access token; the cookie brings the session back.
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    signed_in_as(page, "newcomer@example.com")
    assert task_titles(page) == ["Buy milk", "Write the report"]

    # Log out: the session ends, the cookie is gone, and a reload stays signed out.
    page.click("#logout")
    page.wait_for_selector("#signed-out", state="visible")
    assert [c for c in context.cookies() if c["name"] == "refresh_token"] == []
    assert not RefreshTokenFamily.objects.live().filter(user=owner).exists()
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    assert page.locator("#signed-out").is_visible()
    assert page.problems == []
    # No asset from outside: the page talked to its own origin and the API's, nothing else.
    outside = [url for url in page.requested if not url.startswith((origins["demo"], origins["api"]))]
    assert outside == []


@pytest.mark.django_db(transaction=True)
def test_the_demo_refreshes_the_access_token_before_it_expires(
    page: Any, origins: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Access tokens of 36 s (SimpleJWT reads its lifetime once, at import): the page renews them
    # 30 s before they expire, so 6 s after logging in.
    lifetime = timedelta(seconds=36)
    monkeypatch.setattr(AccessToken, "lifetime", lifetime)
    monkeypatch.setattr(tokens.api_settings, "ACCESS_TOKEN_LIFETIME", lifetime)
    user = UserFactory.create()
    open_demo(page, origins["demo"])
    log_in(page, user.email)
    first = OutstandingToken.objects.filter(user=user).count()
    with page.expect_response(lambda response: "/api/v1/auth/refresh" in response.url, timeout=20_000) as renewal:
        pass
    assert renewal.value.status == 200
    assert OutstandingToken.objects.filter(user=user).count() == first + 1
    page.fill("#task-title", "After the renewal")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#tasks li:has-text('After the renewal')")


@pytest.mark.django_db(transaction=True)
def test_the_demo_lists_and_ends_sessions(page: Any, browser: Any, origins: dict[str, str]) -> None:  # noqa: F811
    user = UserFactory.create()
    other_device = browser.new_context()
    try:
        other = other_device.new_page()
        open_demo(other, origins["demo"])
        log_in(other, user.email)
    finally:
        other_device.close()
    open_demo(page, origins["demo"])
    log_in(page, user.email)
    page.wait_for_selector("#sessions li >> nth=1")
    sessions = page.locator("#sessions li")
    assert sessions.count() == 2
    assert "This browser" in sessions.nth(0).inner_text()

    sessions.nth(1).locator("button[name=end-session]").click()
    page.wait_for_selector("#sessions li >> nth=1", state="detached")
    assert RefreshTokenFamily.objects.live().filter(user=user).count() == 1

    page.click("#sessions li button[name=end-session]")  # this browser's own session
    page.wait_for_selector("#signed-out", state="visible")
    assert not RefreshTokenFamily.objects.live().filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_a_page_on_an_unlisted_origin_cannot_refresh_with_the_cookie(
    page: Any, context: Any, origins: dict[str, str]
) -> None:
    user = UserFactory.create()
    open_demo(page, origins["demo"])
    log_in(page, user.email)
    issued = OutstandingToken.objects.filter(user=user).count()

    # The same browser, on a third origin: the cookie would go with its requests (same site), but
    # the custom header needs CORS's permission, which the API gives the listed origins only.
    attacker = context.new_page()
    attacker.goto(origins["other"])
    outcome = attacker.evaluate(
        """async (api) => {
            const attempts = {};
            try {
                const response = await fetch(`${api}/api/v1/auth/refresh`, {
                    method: "POST", credentials: "include",
                    headers: {"X-Token-Transport": "cookie", "Content-Type": "application/json"}, body: "{}",
                });
                attempts.withHeader = await response.text();
            } catch (error) { attempts.withHeader = `refused: ${error.name}`; }
            try {
                // A "simple" request, sent without asking: no header, so the API ignores the cookie.
                const response = await fetch(`${api}/api/v1/auth/refresh`, {
                    method: "POST", credentials: "include", mode: "no-cors",
                    headers: {"Content-Type": "text/plain"}, body: "{}",
                });
                attempts.simple = `opaque: ${response.type}`;
            } catch (error) { attempts.simple = `refused: ${error.name}`; }
            return attempts;
        }""",
        origins["api"],
    )
    assert outcome["withHeader"] == "refused: TypeError"
    assert outcome["simple"] == "opaque: opaque"  # nothing readable came back
    assert OutstandingToken.objects.filter(user=user).count() == issued  # no token was issued
    assert RefreshTokenFamily.objects.live().filter(user=user).count() == 1

    # The demo's own session is untouched: a reload still signs in with the cookie.
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    signed_in_as(page, user.email)


@pytest.mark.django_db(transaction=True)
def test_the_demo_changes_the_email_and_deletes_the_account(page: Any, origins: dict[str, str]) -> None:
    user = UserFactory.create(email="before@example.com")
    open_demo(page, origins["demo"])
    log_in(page, "before@example.com")

    page.fill("#new-email", "after@example.com")
    page.click("#email-form button[type=submit]")
    page.wait_for_selector("#message:has-text('Check the new mailbox')")
    assert [message.to for message in mail.outbox] == [["after@example.com"]]
    open_demo(page, link_of(mail.outbox[0]))
    page.wait_for_selector("#message:has-text('Your email is now after@example.com')")
    signed_in_as(page, "after@example.com")
    assert User.objects.get(pk=user.pk).email == "after@example.com"
    assert mail.outbox[-1].to == ["before@example.com"]  # the old address is told

    page.fill("#delete-password", DEFAULT_PASSWORD)
    page.click("#delete-form button[type=submit]")
    page.wait_for_selector("#message:has-text('Your account is deleted')")
    page.wait_for_selector("#signed-out", state="visible")
    deleted = User.objects.get(pk=user.pk)
    assert not deleted.is_active
    assert deleted.deletion_requested_at is not None
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    assert page.locator("#signed-out").is_visible()
