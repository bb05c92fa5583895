"""The API tokens page (/settings/tokens), driven in Debian's headless Chromium: list, create
(the key shown once, with a copy button), use and delete a token; same CSP and accessibility
rules as the other pages."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser, expect

from tests.conftest import Client
from tests.support import STRONG

# The fixtures of the sign-in pages' tests (the service on loopback with one user).
from tests.web.test_pages import (
    DESKTOP,
    PHONE,
    Site,
    open_page,
    shot,
    sign_in,
    site,  # noqa: F401
)

PAGE = "/settings/tokens"


async def test_signed_out_goes_to_sign_in_and_back(site: Site, browser: Browser) -> None:  # noqa: F811
    """Without a session the page sends you to sign in, and back to it afterwards."""
    page, errors = await open_page(browser, DESKTOP)
    await page.goto(site.base + PAGE)
    await expect(page).to_have_url(f"{site.base}/login?redirect=/settings/tokens")
    await page.get_by_label("Email").fill("pat@acme.example")
    await page.get_by_label("Password").fill(STRONG)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(site.base + PAGE)
    await expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    assert errors == []


async def test_create_use_and_delete_a_token(site: Site, browser: Browser) -> None:  # noqa: F811
    """Create a scoped token: its key is shown once and works against the API with exactly its
    scope; the list shows it; deleting it removes it from the list and from the API."""
    page, errors = await open_page(browser, DESKTOP)
    await sign_in(page, site, STRONG)
    await expect(page.locator("#whoami")).to_have_text("pat")
    await page.get_by_role("link", name="API tokens").click()
    await expect(page).to_have_url(site.base + PAGE)
    await expect(page.locator("#empty")).to_be_visible()
    await page.get_by_label("Name").fill("ci-deploy")
    await page.get_by_label("Lifetime").select_option(label="30 days")
    await page.get_by_label("workspace:read", exact=True).check()
    await page.get_by_role("button", name="Create token").click()
    created = page.locator("#created")
    await expect(created).to_be_visible()
    await expect(created).to_be_focused()
    key = await page.get_by_label("New token").input_value()
    assert len(key) == 33 and key[10] == "-"
    await expect(page.get_by_role("button", name="Copy")).to_be_visible()
    row = page.locator("#tokens tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.first.locator("td").nth(0)).to_have_text("ci-deploy")
    await expect(row.first.locator("td").nth(1)).to_have_text("workspace:read")
    await expect(row.first.locator("td").nth(3)).to_have_text("Never")
    await shot(page, "tokens-desktop")

    check = {
        "checks": {
            "ws": {"object": {"resource_type": "workspace", "owner_id": "me"}, "action": "read"},
            "tpl": {"object": {"resource_type": "template", "owner_id": "me"}, "action": "read"},
        }
    }
    async with aiohttp.ClientSession() as http:
        headers = {"Coder-Session-Token": key}
        async with http.post(f"{site.base}/api/v2/authcheck", json=check, headers=headers) as r:
            assert (r.status, await r.json()) == (200, {"ws": True, "tpl": False})

    await page.reload()
    await expect(row.first.locator("td").nth(3)).not_to_have_text("Never")  # last used
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete token ci-deploy").click()
    await expect(page.locator("#empty")).to_be_visible()
    async with aiohttp.ClientSession() as http:
        headers = {"Coder-Session-Token": key}
        async with http.post(f"{site.base}/api/v2/authcheck", json=check, headers=headers) as r:
            assert r.status == 401
    assert errors == []


async def test_a_bad_request_shows_the_message(site: Site, browser: Browser) -> None:  # noqa: F811
    """A duplicate name shows the API's message in the alert, focused."""
    page, errors = await open_page(browser, DESKTOP)
    await sign_in(page, site, STRONG)
    await expect(page.locator("#whoami")).to_have_text("pat")
    await page.goto(site.base + PAGE)
    await page.get_by_label("Name").fill("twice")
    await page.get_by_role("button", name="Create token").click()
    # The first is created (and the form reset) before the same name is typed again: typed
    # earlier, the reset could clear it and the second request go without a name.
    await expect(page.get_by_role("textbox", name="New token")).to_be_visible()
    await page.get_by_label("Name").fill("twice")
    await page.get_by_role("button", name="Create token").click()
    alert = page.get_by_role("alert").first
    await expect(alert).to_contain_text('A token with name "twice" already exists.')
    await expect(alert).to_be_focused()
    assert [e for e in errors if "status of 409" not in e] == []


async def test_names_are_text_not_markup(site: Site, browser: Browser) -> None:  # noqa: F811
    """A token name full of markup is shown as text: nothing runs, nothing is injected."""
    page, errors = await open_page(browser, DESKTOP)
    await sign_in(page, site, STRONG)
    await expect(page.locator("#whoami")).to_have_text("pat")
    await page.goto(site.base + PAGE)
    name = '<img src=x onerror="window.pwned=1">'
    await page.get_by_label("Name").fill(name)
    await page.get_by_role("button", name="Create token").click()
    await expect(page.locator("#tokens tbody td").first).to_have_text(name)
    assert await page.evaluate("window.pwned === undefined")
    assert await page.locator("#tokens img").count() == 0
    assert errors == []


async def test_phone_width_and_keyboard(site: Site, browser: Browser) -> None:  # noqa: F811
    """The page fits a phone screen, and the form is reachable by keyboard in order."""
    page, _ = await open_page(browser, PHONE)
    await sign_in(page, site, STRONG)
    await expect(page.locator("#whoami")).to_have_text("pat")
    await page.goto(site.base + PAGE)
    await shot(page, "tokens-phone")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.get_by_label("Name").focus()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "lifetime"


async def test_headers(client: Client) -> None:
    """The page sends the same strict headers as the others, and no inline script."""
    resp = await client.get(PAGE, allow_redirects=False)
    assert resp.status == 302
    await client.post(
        "/api/v2/users/first",
        json={"email": "a@corp.example", "username": "a", "password": STRONG},
    )
    login = await client.post(
        "/api/v2/users/login", json={"email": "a@corp.example", "password": STRONG}
    )
    token = (await login.json())["session_token"]
    resp = await client.get(PAGE, headers={"Coder-Session-Token": token})
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    body = await resp.text()
    assert "<script>" not in body and "style=" not in body
    assert 'value="coder:workspaces.create"' in body
