"""Sign-in with a provider from the built-in login page, end to end in headless Chromium.

The login page shows a button per configured provider (label and icon from settings, as
Coder's login page does); clicking one runs the whole flow: the service's start URL, the
provider (a real OIDC provider, or the local GitHub imitation), the callback, and the home
page, signed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from service import keys
from service.app import create_app
from service.auth.users import NewUser
from service.clock import system_clock
from tests.conftest import ROOT, make_settings
from tests.oidc_support import (
    NEXT_CODE,
    OidcProviderProcess,
    github_imitation,
    provider_settings,
)
from tests.support import free_port

SHOTS = ROOT / "artifacts" / "screenshots"


@dataclass
class Site:
    base: str
    app: Any
    idp: OidcProviderProcess
    github: Any


@pytest.fixture
async def site(redis_url: str) -> AsyncIterator[Site]:
    """The service with OIDC (a real provider) and GitHub (the imitation) configured."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    idp = OidcProviderProcess([f"{base}/api/v2/users/oidc/callback"])
    github_app = github_imitation(
        {"code-gia": {"id": 77, "login": "gia-gh", "email": "gia@acme.example", "verified": True}}
    )
    github = TestServer(github_app, host="127.0.0.1")
    await github.start_server()
    settings = make_settings(
        redis_url,
        public_url=base,
        oidc_sign_in_text="Acme SSO",
        **provider_settings(github.port, idp),
    )
    server = TestServer(create_app(settings, clock=system_clock), host="127.0.0.1", port=port)
    await server.start_server()
    app = server.app
    await app[keys.DIRECTORY].create(NewUser("sso@acme.example", "sso-user", login_type="oidc"))
    await app[keys.DIRECTORY].create(NewUser("gia@acme.example", "gia", login_type="github"))
    try:
        yield Site(base, app, idp, github_app)
    finally:
        await server.close()
        await github.close()
        idp.stop()


async def test_oidc_button_signs_in(site: Site, browser: Browser) -> None:
    """ "Sign in with Acme SSO" on /login: provider, callback, signed in at the redirect."""
    site.idp.next_login("idp-sso", "sso@acme.example")
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{site.base}/login?redirect=/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "login-providers.png"), full_page=True)
    await page.get_by_role("link", name="Sign in with Acme SSO").click()
    await expect(page).to_have_url(f"{site.base}/")
    await expect(page.locator("#whoami")).to_have_text("sso-user")
    await context.close()


async def test_github_button_signs_in(site: Site, browser: Browser) -> None:
    """ "Sign in with GitHub" (with its icon) runs the GitHub flow to the home page."""
    site.github[NEXT_CODE]["code"] = "code-gia"
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{site.base}/login")
    button = page.get_by_role("link", name="Sign in with GitHub")
    await expect(button.locator("img")).to_have_attribute("src", "/static/github.svg")
    await button.click()
    await expect(page).to_have_url(f"{site.base}/")
    await expect(page.locator("#whoami")).to_have_text("gia")
    await context.close()
