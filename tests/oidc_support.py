"""A real OpenID Connect provider (npm `oidc-provider`) and a GitHub imitation, on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import aiohttp.web

from tests.support import free_port, terminate

NEXT_CODE = aiohttp.web.AppKey("next_code", dict[str, str])
PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
CLIENT_ID = "authsvc-test"
CLIENT_SECRET = "authsvc-test-client-secret"


class OidcProviderProcess:
    """`node provider.mjs` on a free loopback port (installs its npm package on first use)."""

    def __init__(self, redirect_uris: list[str]) -> None:
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            raise RuntimeError("Node.js and npm are needed for the OIDC tests")
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=PROVIDER_DIR,
                check=True,
                timeout=300,
            )
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PORT": str(self.port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URIS": ",".join(redirect_uris),
            "NODE_ENV": "test",
        }
        self.process = subprocess.Popen(
            [node, "provider.mjs"],
            cwd=PROVIDER_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"OIDC provider did not start: {line}")

    def next_login(self, sub: str, email: str, *, verified: Any = True, username: str = "") -> None:
        """The account the next authorization signs in as."""
        body = json.dumps(
            {"sub": sub, "email": email, "email_verified": verified, "preferred_username": username}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.issuer}/test/next-login", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass

    def stop(self) -> None:
        terminate(self.process)


class Browser:
    """An HTTP client that keeps cookies and follows redirects by hand, like a browser."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.session.close()

    async def walk(self, url: str, stop_at: str) -> str:
        """Follow redirects from `url` until one points at `stop_at` (returned, not fetched)."""
        for _ in range(20):
            if url.startswith(stop_at):
                return url
            async with self.session.get(url, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status not in (302, 303, 307) or not location:
                    raise AssertionError(f"{url}: {resp.status} {await resp.text()}")
                url = urljoin(url, location)
        raise AssertionError("too many redirects")

    def cookie(self, name: str) -> str | None:
        for c in self.session.cookie_jar:
            if c.key == name:
                return c.value
        return None

    def drop_cookie(self, name: str) -> None:
        kept = [c for c in self.session.cookie_jar if c.key != name]
        self.session.cookie_jar.clear()
        for c in kept:
            self.session.cookie_jar.update_cookies({c.key: c.value})


def github_imitation(users: dict[str, dict[str, Any]]) -> Any:
    """A small local imitation of GitHub's three OAuth endpoints plus /user and /user/emails.

    `users` maps a code the test hands out to {"id", "login", "email", "verified"}.
    """
    from aiohttp import web

    tokens: dict[str, dict[str, Any]] = {}

    async def authorize(request: web.Request) -> web.StreamResponse:
        code = request.app[NEXT_CODE]["code"]
        target = f"{request.query['redirect_uri']}?code={code}&state={request.query['state']}"
        raise web.HTTPFound(target)

    async def access_token(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        user = users.get(str(form.get("code")))
        if user is None or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "bad_verification_code"})
        token = f"gho_{form['code']!s}"
        tokens[token] = user
        return web.json_response({"access_token": token, "token_type": "bearer"})

    def _user(request: web.Request) -> dict[str, Any]:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in tokens:
            raise web.HTTPUnauthorized()
        return tokens[token]

    async def user(request: web.Request) -> web.StreamResponse:
        u = _user(request)
        return web.json_response({"id": u["id"], "login": u["login"], "name": u["login"]})

    async def emails(request: web.Request) -> web.StreamResponse:
        u = _user(request)
        return web.json_response(
            [{"email": u["email"], "primary": True, "verified": u["verified"]}]
        )

    app = web.Application()
    app[NEXT_CODE] = {"code": ""}  # the test sets ["code"] before each sign-in
    app.router.add_get("/login/oauth/authorize", authorize)
    app.router.add_post("/login/oauth/access_token", access_token)
    app.router.add_get("/api/user", user)
    app.router.add_get("/api/user/emails", emails)
    return app


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except OSError:
            time.sleep(0.05)


def provider_settings(
    github_port: int | None, idp: OidcProviderProcess | None = None
) -> dict[str, Any]:
    """Settings that point the service at the GitHub imitation (started on `github_port`) and,
    if given, the OIDC provider."""
    assert github_port is not None, "start the GitHub imitation first"
    github_base = f"http://127.0.0.1:{github_port}"
    values: dict[str, Any] = {
        "github_client_id": CLIENT_ID,
        "github_client_secret": CLIENT_SECRET,
        "github_base_url": github_base,
        "github_api_url": f"{github_base}/api",
    }
    if idp is not None:
        values |= {
            "oidc_issuer_url": idp.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
        }
    return values
