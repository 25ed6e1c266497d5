"""The admin site and the API docs in a real browser (Playwright driving Chromium).

Chromium comes from the system (Debian's `chromium` package) or `CHROMIUM_PATH`. Where none is
found these tests are skipped, except when `REQUIRE_BROWSER` or `CI` is set: then they fail with
a message saying what to install, so a CI run never passes without them.
"""

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from accounts.models import User
from accounts.tokens import issue_token_pair
from tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured is not None:
        return configured or None  # empty: Playwright's own browser
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements/dev.txt
        pytest.fail("Playwright is not installed: pip install -r requirements/dev.txt")
    path = chromium_path()
    if path is None and "CHROMIUM_PATH" not in os.environ:
        message = "no Chromium found: apt-get install chromium, or set CHROMIUM_PATH"
        if os.environ.get("REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(f"Browser tests are required here, but {message}")
        pytest.skip(message)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Settings) -> Iterator[Any]:
    """A fresh page; every request it makes is recorded, to check nothing leaves the app."""
    # The live server speaks plain HTTP, so the admin's cookies may not require HTTPS here.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(base_url=live_server.url)
    new_page = context.new_page()
    new_page.requested = []
    new_page.blocked = []
    new_page.problems = []
    new_page.on("request", lambda request: new_page.requested.append(request.url))
    new_page.on(
        "requestfailed",
        lambda request: new_page.blocked.append(request.url) if request.failure == "csp" else None,
    )
    new_page.on("response", lambda response: _record_failure(new_page, response))
    new_page.on("pageerror", lambda error: new_page.problems.append(str(error)))
    # A policy violation (or any other refusal) is reported on the console.
    new_page.on(
        "console",
        lambda message: (
            new_page.problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    yield new_page
    context.close()


def _record_failure(page: Any, response: Any) -> None:
    # Browsers ask for /favicon.ico on their own; the API has none to give.
    if response.status >= 400 and not response.url.endswith("/favicon.ico"):
        page.problems.append(f"{response.status} {response.url}")


def assert_everything_loaded_from(page: Any, origin: str) -> None:
    """Nothing came from outside the app: every other address was refused by the page's policy.

    (Redoc's menu always asks for its maker's logo from their CDN; the Content-Security-Policy
    refuses it, so the browser never contacts that host.)
    """
    outside = [url for url in page.requested if not url.startswith((origin, "data:", "blob:"))]
    assert [url for url in outside if url not in page.blocked] == [], f"loaded from outside the app: {outside}"
    problems = [text for text in page.problems if not any(url in text for url in page.blocked)]
    assert problems == [], f"errors in the browser console: {problems}"


def admin_login(page: Any, email: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.mark.django_db(transaction=True)
def test_an_admin_creates_a_user_in_the_admin_site_and_finds_it(page: Any, live_server: Any) -> None:
    admin = AdminFactory.create(email="admin@local.com")
    admin_login(page, admin.email, DEFAULT_PASSWORD)
    page.wait_for_selector("#site-name")
    assert "Site administration" in page.content()
    # The admin is styled: its stylesheet loaded and applied.
    header_color = page.eval_on_selector("#header", "element => getComputedStyle(element).backgroundColor")
    assert header_color != "rgba(0, 0, 0, 0)"

    page.goto("/admin/accounts/user/add/")
    page.fill("#id_email", "Browser.Made@Example.com")
    page.fill("#id_full_name", "Browser Made")
    page.select_option("#id_role", "user")
    page.fill("#id_password1", "a-browser-passphrase-9")
    page.fill("#id_password2", "a-browser-passphrase-9")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")

    page.goto("/admin/accounts/user/?q=browser.made")
    assert page.locator("#result_list").inner_text().count("browser.made@example.com") == 1
    created = User.objects.get(email="browser.made@example.com")
    assert created.check_password("a-browser-passphrase-9")
    assert_everything_loaded_from(page, live_server.url)


@pytest.mark.django_db(transaction=True)
def test_a_user_role_account_is_refused_by_the_admin_site(page: Any) -> None:
    user = UserFactory.create()
    admin_login(page, user.email, DEFAULT_PASSWORD)
    page.wait_for_selector(".errornote")
    assert "staff account" in page.locator(".errornote").inner_text()
    page.goto("/admin/")
    assert "/admin/login/" in page.url


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_authorizes_with_a_token_and_lists_tasks(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    token = issue_token_pair(user).access_token
    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .info")

    page.click("button.authorize")
    page.fill(".auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")

    operation = page.locator("#operations-tasks-api_v1_tasks_list")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert '"count": 0' in operation.locator(".live-responses-table tbody .microlight").first.inner_text()
    assert_everything_loaded_from(page, live_server.url)


@pytest.mark.django_db(transaction=True)
def test_redoc_renders_from_local_assets(page: Any, live_server: Any) -> None:
    page.goto("/api/redoc/")
    page.get_by_role("heading", name="Log in with email and password").wait_for()
    assert_everything_loaded_from(page, live_server.url)
