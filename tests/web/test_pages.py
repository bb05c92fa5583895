"""The sign-in and password-reset pages, driven in Debian's headless Chromium (Playwright).

The service runs on loopback with a real Redis and the recording SMTP server. Screenshots of
each page at desktop and phone width are saved to artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from service import keys
from service.app import create_app
from service.auth.users import NewUser
from service.clock import system_clock
from tests.conftest import ROOT, Client, make_settings
from tests.support import STRONG, RecordingSmtp, free_port, wait_until

SHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NEW_PASSWORD = "Correct-Horse-Battery-9"


@dataclass
class Site:
    base: str
    app: Any
    smtp: RecordingSmtp


@pytest.fixture
async def site(redis_url: str, smtp: RecordingSmtp) -> AsyncIterator[Site]:
    """The service at a fixed loopback URL (so mail links point at it), with one user."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(
        redis_url,
        public_url=base,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        product_name="Acme Dev",
        brand_color="#7c3aed",
    )
    server = TestServer(create_app(settings, clock=system_clock), host="127.0.0.1", port=port)
    await server.start_server()
    app = server.app
    await app[keys.DIRECTORY].create(
        NewUser("pat@acme.example", "pat", await app[keys.PASSWORDS].hash(STRONG))
    )
    try:
        yield Site(base, app, smtp)
    finally:
        await server.close()


async def open_page(browser: Browser, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    """A page in a fresh context, collecting console errors (a CSP violation shows up there)."""
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    # The API's own 400/401 answers (a wrong password, a weak one) are logged by Chromium too;
    # anything else (a CSP violation, a script error, a missing asset) fails the test.
    expected = re.compile(r"^Failed to load resource: .* status of 40[01] ")

    def on_console(message: Any) -> None:
        if message.type == "error" and not expected.match(message.text):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def sign_in(page: Page, site: Site, password: str) -> None:
    await page.goto(f"{site.base}/login")
    await page.get_by_label("Email").fill("pat@acme.example")
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_and_out(site: Site, browser: Browser) -> None:
    """Sign in shows who you are; sign out returns to the sign-in page and ends the session."""
    page, errors = await open_page(browser, DESKTOP)
    await page.goto(f"{site.base}/login")
    await shot(page, "login-desktop")
    await sign_in(page, site, STRONG)
    await expect(page.locator("#whoami")).to_have_text("pat")
    await expect(page.locator("#whoami-email")).to_have_text("pat@acme.example")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{site.base}/login")
    await page.goto(f"{site.base}/")
    await expect(page).to_have_url(f"{site.base}/login")  # the session is gone
    assert errors == []


async def test_redirect_after_sign_in_is_same_origin_only(site: Site, browser: Browser) -> None:
    """`redirect` takes you to a same-origin path; anything else lands on the home page."""
    page, _ = await open_page(browser, DESKTOP)
    await page.goto(f"{site.base}/login?redirect=//evil.example/")
    await page.get_by_label("Email").fill("pat@acme.example")
    await page.get_by_label("Password").fill(STRONG)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{site.base}/")


async def test_wrong_password_shows_the_message(site: Site, browser: Browser) -> None:
    """A wrong password shows the API's message in an alert and keeps you on the page."""
    page, errors = await open_page(browser, DESKTOP)
    await sign_in(page, site, "not-my-password")
    alert = page.get_by_role("alert").first
    await expect(alert).to_have_text("Incorrect email or password.")
    await expect(alert).to_be_focused()
    await expect(page).to_have_url(f"{site.base}/login")
    assert errors == []


async def test_reset_password_end_to_end(site: Site, browser: Browser) -> None:
    """Request a code, follow the mailed link, try a weak then a strong password, sign in."""
    page, errors = await open_page(browser, DESKTOP)
    await page.goto(f"{site.base}/reset-password")
    await shot(page, "reset-desktop")
    await page.get_by_label("Email").fill("pat@acme.example")
    await page.get_by_role("button", name="Send reset link").click()
    await expect(page.get_by_role("status")).to_contain_text("If an account exists")
    await wait_until(lambda: len(site.smtp.to("pat@acme.example")) == 1)
    text = site.smtp.to("pat@acme.example")[0].get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"(http://\S+/reset-password/change\?\S+)", text)
    assert link
    await page.goto(link.group(1))
    await expect(page).to_have_url(f"{site.base}/reset-password/change")  # code out of the URL
    await shot(page, "change-desktop")
    await page.get_by_label("New password", exact=True).fill("password")
    await page.get_by_label("Repeat the new password").fill("password")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.locator("#password-error")).to_contain_text("insecure password")
    await expect(page.get_by_label("New password", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the new password").fill(NEW_PASSWORD + "x")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.locator("#confirm-error")).to_have_text("The two passwords do not match.")
    await page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await expect(page).to_have_url(f"{site.base}/login?reset=done")
    await expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    await sign_in(page, site, NEW_PASSWORD)
    await expect(page.locator("#whoami")).to_have_text("pat")
    assert errors == []


@pytest.mark.parametrize(
    "path", ["/login", "/reset-password", "/reset-password/change?otp=x&email=a@b.co"]
)
async def test_phone_width_fits(site: Site, browser: Browser, path: str) -> None:
    """Each page fits a phone-sized screen without sideways scrolling."""
    page, _ = await open_page(browser, PHONE)
    await page.goto(site.base + path)
    name = {"/login": "login", "/reset-password": "reset"}.get(path, "change")
    await shot(page, f"{name}-phone")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_keyboard_focus_order(site: Site, browser: Browser) -> None:
    """Tab moves email -> password -> sign in -> reset link on the sign-in page."""
    page, _ = await open_page(browser, DESKTOP)
    await page.goto(f"{site.base}/login")
    order = []
    for _ in range(4):
        order.append(
            await page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
        await page.keyboard.press("Tab")
    assert order == ["email", "password", "Sign in", "Forgot your password?"]


async def test_security_headers_and_no_external_assets(client: Client) -> None:
    """Pages send strict headers and reference only their own assets."""
    for path in ("/login", "/reset-password", "/reset-password/change?otp=o&email=e@x.co"):
        resp = await client.get(path)
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        body = await resp.text()
        assert "<script>" not in body and "style=" not in body
        assert not re.search(r"(src|href)=\"(https?:)?//", body)
    resp = await client.get("/static/theme.css")
    assert "--brand: #2563eb" in await resp.text()


async def test_values_are_escaped(client: Client) -> None:
    """Query values rendered into a page are HTML-escaped."""
    resp = await client.get('/reset-password/change?otp="><script>x</script>&email=a@b.co')
    body = await resp.text()
    assert "<script>x" not in body and "&lt;script&gt;" in body


def test_screenshots_exist_after_browser_tests() -> None:
    """The browser tests above wrote their screenshots (run in file order)."""
    for name in ("login", "reset", "change"):
        for width in ("desktop", "phone"):
            assert (SHOTS / f"{name}-{width}.png").stat().st_size > 1000, name
