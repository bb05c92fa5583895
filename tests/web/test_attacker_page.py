"""Attacks from a real attacker page on another origin, in Debian's headless Chromium.

The service runs at http://127.0.0.1:<port>. The attacker's pages are served from
http://localhost:<port> (another site: the browser sends Sec-Fetch-Site: cross-site) and from
http://127.0.0.1:<other port> (a sibling origin on the same site, which SameSite=Lax cookies
do not stop). Each test fails on a service without the defence it names.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, expect

from service import keys
from service.app import create_app
from service.auth.users import NewUser
from service.clock import system_clock
from tests.conftest import make_settings
from tests.oidc_support import (
    NEXT_CODE,
    github_imitation,
    provider_settings,
)
from tests.support import STRONG, free_port

VICTIM = "vic@acme.example"
ATTACKER = "mal@acme.example"
ATTACKER_PASSWORD = "Mallory-Owns-This-1!"


@dataclass
class Stage:
    service: str
    app: Any
    cross_site: str  # the attacker's site
    sibling: str  # an attacker page on a sibling origin of the same site
    pages: dict[str, str]
    github: Any


def _attacker_app(pages: dict[str, str]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.match_info["name"]], content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}", page)
    return app


@pytest.fixture
async def stage(redis_url: str) -> AsyncIterator[Stage]:
    """The service with GitHub sign-in (a local imitation), a victim and an attacker."""
    github_users: dict[str, dict[str, Any]] = {
        "code-mal": {"id": 666, "login": "mal-gh", "email": ATTACKER, "verified": True}
    }
    github_app = github_imitation(github_users)
    github = TestServer(github_app, host="127.0.0.1")
    await github.start_server()
    port = free_port()
    service = f"http://127.0.0.1:{port}"
    settings = make_settings(
        redis_url,
        public_url=service,
        github_allow_signups=True,
        **provider_settings(github.port),
    )
    server = TestServer(create_app(settings, clock=system_clock), host="127.0.0.1", port=port)
    await server.start_server()
    app = server.app
    for email, password in ((VICTIM, STRONG), (ATTACKER, ATTACKER_PASSWORD)):
        hashed = await app[keys.PASSWORDS].hash(password)
        await app[keys.DIRECTORY].create(NewUser(email, email.split("@")[0], hashed))
    pages: dict[str, str] = {}
    cross = TestServer(_attacker_app(pages), host="localhost")
    sibling = TestServer(_attacker_app(pages), host="127.0.0.1")
    await cross.start_server()
    await sibling.start_server()
    try:
        yield Stage(
            service,
            app,
            f"http://localhost:{cross.port}",
            f"http://127.0.0.1:{sibling.port}",
            pages,
            github_app,
        )
    finally:
        for s in (cross, sibling, server, github):
            await s.close()


def _auto_post(action: str, fields: dict[str, str], enctype: str = "text/plain") -> str:
    """An attacker page that submits a form as soon as it loads."""
    inputs = "".join(
        f"<input type='hidden' name='{name}' value='{value}'>" for name, value in fields.items()
    )
    return (
        f"<html><body><form id='f' method='POST' action='{action}' enctype='{enctype}'>"
        f"{inputs}</form><script>document.getElementById('f').submit()</script></body></html>"
    )


async def _session_cookie(context: BrowserContext, service: str) -> str | None:
    for cookie in await context.cookies(service):
        if cookie["name"] == "coder_session_token" and cookie["value"]:
            return cookie["value"]
    return None


async def _sign_in(
    context: BrowserContext, stage: Stage, email: str, password: str, query: str = ""
) -> None:
    """Sign in on the login page; the browser must land on the service's home page."""
    page = await context.new_page()
    await page.goto(f"{stage.service}/login{query}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{stage.service}/")
    await page.close()


@pytest.mark.parametrize("origin", ["cross_site", "sibling"])
async def test_form_post_cannot_sign_the_victim_in(
    stage: Stage, browser: Browser, origin: str
) -> None:
    """A text/plain form that posts the attacker's credentials as JSON (login CSRF) is
    refused: the victim's browser gets no session."""
    # The classic trick: name + value of one field make a JSON body under text/plain.
    body_start = f'{{"email":"{ATTACKER}","password":"{ATTACKER_PASSWORD}","x":"'
    stage.pages["login"] = _auto_post(f"{stage.service}/api/v2/users/login", {body_start: '"}'})
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{getattr(stage, origin)}/login")
    await expect(page.locator("body")).to_contain_text("Cross-origin request refused.")
    assert await _session_cookie(context, stage.service) is None
    await context.close()


async def test_sibling_page_cannot_sign_the_victim_out(stage: Stage, browser: Browser) -> None:
    """A page on a sibling origin posts to logout with the victim's cookie: refused."""
    context = await browser.new_context()
    await _sign_in(context, stage, VICTIM, STRONG)
    token = await _session_cookie(context, stage.service)
    assert token
    stage.pages["logout"] = _auto_post(f"{stage.service}/api/v2/users/logout", {"x": "y"})
    page = await context.new_page()
    await page.goto(f"{stage.sibling}/logout")
    await expect(page.locator("body")).to_contain_text("Cross-origin request refused.")
    await page.goto(f"{stage.service}/")
    await expect(page.locator("#whoami")).to_have_text("vic")  # still signed in
    await context.close()


async def test_redirect_with_a_tab_stays_home(stage: Stage, browser: Browser) -> None:
    """/login?redirect=/%09/evil.example/x: after sign-in the browser is on the service."""
    context = await browser.new_context()
    await _sign_in(context, stage, VICTIM, STRONG, "?redirect=/%09/evil.example/x")
    # The page's own check refuses what browsers would read as another host.
    page = await context.new_page()
    await page.goto(f"{stage.service}/login")
    for target in ["/\t/evil.example", "/\\evil.example", "//evil.example", "/\n/evil.example"]:
        assert await page.evaluate("(t) => safePath(t)", target) == "/"
    assert await page.evaluate("(t) => safePath(t)", "/settings?x=1") == "/settings?x=1"
    await context.close()


async def test_attacker_cannot_plant_a_provider_flow(stage: Stage, browser: Browser) -> None:
    """State fixation: the attacker's page sends the victim to the provider start with the
    attacker's state; the flow is refused and the victim is not signed in as the attacker."""
    stage.github[NEXT_CODE]["code"] = "code-mal"  # the provider would sign in as mal-gh
    start = f"{stage.service}/api/v2/users/oauth2/github/callback"
    # The attacker starts a flow of their own and learns its state.
    async with (
        aiohttp.ClientSession() as attacker,
        attacker.get(start, allow_redirects=False) as resp,
    ):
        assert resp.status == 307
        state = resp.cookies["oauth_state"].value
    for merge_state in (state, "convert-" + "A" * 32):
        stage.pages["fix"] = (
            "<html><body><script>"
            f"window.location = '{start}?oidc_merge_state={merge_state}';"
            "</script></body></html>"
        )
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{stage.cross_site}/fix")
        await expect(page.locator("body")).to_contain_text(re.compile("conver", re.I))
        assert page.url.startswith(start)
        names = {c["name"] for c in await context.cookies(stage.service)}
        assert "oauth_state" not in names and "coder_session_token" not in names
        await context.close()
