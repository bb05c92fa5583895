"""convert-login (vectors 35-39) and the OIDC / GitHub sign-ins that complete it.

OIDC runs against a real provider (the npm `oidc-provider` package) started on loopback.
GitHub runs against a small local imitation of its OAuth endpoints (tests/oidc_support.py).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from joserfc import jwt

from service import keys
from service.app import create_app
from service.auth.convert import derive_key
from service.auth.users import NewUser, User
from service.settings import SettingsError
from tests.conftest import AiohttpClient, Client, MakeUser, login, make_settings
from tests.oidc_support import (
    CLIENT_ID,
    NEXT_CODE,
    Browser,
    OidcProviderProcess,
    github_imitation,
    provider_settings,
)
from tests.support import STRONG, FakeClock, free_port

STATE_RE = re.compile(r"^convert-[0-9A-Za-z]{32}$")


async def test_unsupported_target_types(client: Client, make_user: MakeUser) -> None:
    """Vector 35: password/none/token cannot be targets; other names are unknown."""
    await make_user("alice@corp.example")
    headers = {"Coder-Session-Token": await login(client, "alice@corp.example")}
    for to_type in ("password", "none", "token"):
        resp = await client.post(
            "/api/v2/users/me/convert-login",
            json={"to_type": to_type, "password": "x"},
            headers=headers,
        )
        assert resp.status == 400
        assert await resp.json() == {"message": f'Cannot convert to login type "{to_type}".'}
    resp = await client.post(
        "/api/v2/users/me/convert-login", json={"to_type": "saml", "password": "x"}, headers=headers
    )
    assert await resp.json() == {"message": 'Unknown login type "saml".'}


async def test_missing_to_type(client: Client, make_user: MakeUser) -> None:
    """Vector 36: to_type is required."""
    await make_user("alice@corp.example")
    headers = {"Coder-Session-Token": await login(client, "alice@corp.example")}
    resp = await client.post(
        "/api/v2/users/me/convert-login", json={"password": "x"}, headers=headers
    )
    assert resp.status == 400
    assert (await resp.json())["validations"] == [
        {"field": "to_type", "detail": 'Validation failed for tag "required" with value: ""'}
    ]


async def test_password_is_rechecked(client: Client, make_user: MakeUser) -> None:
    """Vector 37: a wrong password, or an OIDC user (no password), answers login's 401."""
    await make_user("alice@corp.example")
    oidc = await make_user("oidcuser@corp.example", None, login_type="oidc")
    headers = {"Coder-Session-Token": await login(client, "alice@corp.example")}
    resp = await client.post(
        "/api/v2/users/me/convert-login",
        json={"to_type": "oidc", "password": "wrong"},
        headers=headers,
    )
    assert resp.status == 401
    assert await resp.json() == {"message": "Incorrect email or password."}
    token = await client.app[keys.SESSIONS].issue(
        oidc.id, "oidc", "127.0.0.1", epoch=oidc.session_epoch
    )
    for password in ("anything", "hunter2"):
        resp = await client.post(
            "/api/v2/users/me/convert-login",
            json={"to_type": "github", "password": password},
            headers={"Coder-Session-Token": token},
        )
        assert resp.status == 401


async def test_start_conversion(client: Client, make_user: MakeUser, clock: FakeClock) -> None:
    """Vector 38: 201 with a convert- state, expiry 5 min out in whole seconds, and the cookie."""
    clock.now = 1_800_000_000.75
    alice = await make_user("alice@corp.example")
    headers = {"Coder-Session-Token": await login(client, "alice@corp.example")}
    resp = await client.post(
        "/api/v2/users/me/convert-login",
        json={"to_type": "oidc", "password": STRONG},
        headers=headers,
    )
    assert resp.status == 201
    body = await resp.json()
    assert STATE_RE.match(body["state_string"])
    assert body["to_type"] == "oidc" and body["user_id"] == alice.id
    assert body["expires_at"] == "2027-01-15T08:05:00Z"
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == 1_800_000_300
    cookie = resp.headers["Set-Cookie"]
    assert re.match(
        r"^coder_oauth_convert_jwt=[\w-]+\.[\w-]+\.[\w-]+; Path=/; "
        r"Expires=Fri, 15 Jan 2027 08:05:00 GMT; HttpOnly; SameSite=Lax$",
        cookie,
    ), cookie
    claims = jwt.decode(
        cookie.split(";")[0].split("=", 1)[1],
        derive_key("test-secret-key-0123456789")[1],
        algorithms=["HS512"],
    ).claims
    assert claims["sub"] == claims["state"] == body["state_string"]
    assert claims["aud"] == [alice.id] and claims["user_id"] == alice.id
    assert claims["iss"] == await client.app[keys.USERS].deployment_id()
    assert claims["from_login_type"] == "password" and claims["to_login_type"] == "oidc"
    assert claims["exp"] == 1_800_000_300 and claims["nbf"] == 1_799_999_999
    # By username and by id too.
    for ref in ("alice", alice.id):
        resp = await client.post(
            f"/api/v2/users/{ref}/convert-login",
            json={"to_type": "github", "password": STRONG},
            headers=headers,
        )
        assert resp.status == 201


async def test_unknown_user_param(client: Client, make_user: MakeUser) -> None:
    """Vector 39: an unknown user in the path answers 400 with the queried value."""
    await make_user("alice@corp.example")
    headers = {"Coder-Session-Token": await login(client, "alice@corp.example")}
    resp = await client.post(
        "/api/v2/users/nosuchuser/convert-login",
        json={"to_type": "oidc", "password": STRONG},
        headers=headers,
    )
    assert resp.status == 400
    assert await resp.json() == {
        "message": '"user" must be an existing uuid or username.',
        "detail": 'queried user="nosuchuser"',
    }


@dataclass
class Env:
    base: str
    app: Any
    idp: OidcProviderProcess
    github: Any
    browser: Browser
    clock: FakeClock

    async def user(self, email: str, password: str | None = STRONG, **kw: Any) -> User:
        hashed = await self.app[keys.PASSWORDS].hash(password) if password else ""
        user = await self.app[keys.DIRECTORY].create(
            NewUser(email, email.split("@")[0], hashed, **kw)
        )
        assert user is not None
        created: User = user
        return created

    async def post(self, path: str, body: Any) -> Any:
        async with self.browser.session.post(self.base + path, json=body) as resp:
            return resp.status, await resp.json(content_type=None)

    async def start_conversion(self, email: str, to_type: str = "oidc") -> str:
        status, body = await self.post("/api/v2/users/login", {"email": email, "password": STRONG})
        assert status == 201, body
        status, body = await self.post(
            "/api/v2/users/me/convert-login", {"to_type": to_type, "password": STRONG}
        )
        assert status == 201, body
        return str(body["state_string"])

    async def sign_in(self, provider_path: str, query: str) -> Any:
        """Run the flow from the service's start URL to its callback; return the final response
        (or the start's, when the service refuses to start the flow)."""
        callback = f"{self.base}/api/v2/users/{provider_path}"
        start = f"{callback}?{query}"
        resp = await self.browser.session.get(start, allow_redirects=False)
        await resp.read()
        if resp.status != 307:
            return resp  # refused as the flow starts (the conversion checks run there too)
        authorize = resp.headers["Location"]
        # A fresh login at the provider each time: it signs in as the account of next_login().
        for name in [
            c.key for c in self.browser.session.cookie_jar if c.key.startswith("_session")
        ]:
            self.browser.drop_cookie(name)
        back = await self.browser.walk(authorize, callback)
        resp = await self.browser.session.get(back, allow_redirects=False)
        await resp.read()
        return resp


@pytest.fixture
async def env(redis_url: str, clock: FakeClock) -> AsyncIterator[Env]:
    """The service on a fixed loopback port, a real OIDC provider, and a GitHub imitation."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    idp = OidcProviderProcess([f"{base}/api/v2/users/oidc/callback"])
    github_users: dict[str, dict[str, Any]] = {}
    github_app = github_imitation(github_users)
    github = TestServer(github_app, host="127.0.0.1")
    await github.start_server()
    settings = make_settings(
        redis_url,
        public_url=base,
        github_allow_signups=True,
        **provider_settings(github.port, idp),
    )
    server = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=port)
    await server.start_server()
    browser = Browser()
    e = Env(base, server.app, idp, github_app, browser, clock)
    e.github.users = github_users
    try:
        yield e
    finally:
        await browser.close()
        await server.close()
        await github.close()
        idp.stop()


async def test_whole_oidc_conversion(env: Env) -> None:
    """Convert a password user to OIDC through the real provider; the asking session ends."""
    alice = await env.user("alice@corp.example")
    state = await env.start_conversion("alice@corp.example")
    old_token = env.browser.cookie("coder_session_token")
    env.idp.next_login("idp-alice", "alice@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}&redirect=/settings")
    assert resp.status == 307, await resp.text()
    assert resp.headers["Location"] == "/settings"
    cookies = resp.headers.getall("Set-Cookie")
    assert "coder_session_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax" in cookies
    assert any(c.startswith("coder_oauth_convert_jwt=; ") for c in cookies)
    user = await env.app[keys.USERS].get(alice.id)
    assert user is not None
    assert (user.login_type, user.hashed_password, user.links) == (
        "oidc",
        "",
        {"oidc": "idp-alice"},
    )
    async with env.browser.session.get(
        f"{env.base}/api/v2/users/me", headers={"Coder-Session-Token": old_token or ""}
    ) as me:
        assert me.status == 401
    status, body = await env.post(
        "/api/v2/users/login", {"email": "alice@corp.example", "password": STRONG}
    )
    assert (status, body) == (
        403,
        {
            "message": 'Incorrect login type, attempting to use "password" but user is of login '
            'type "oidc"'
        },
    )
    # Any other password gets the usual 401: nothing is revealed without the old password.
    status, body = await env.post(
        "/api/v2/users/login", {"email": "alice@corp.example", "password": "guess"}
    )
    assert (status, body) == (401, {"message": "Incorrect email or password."})
    # Ordinary sign-in now works through the provider and gives a session cookie.
    env.idp.next_login("idp-alice", "alice@corp.example")
    resp = await env.sign_in("oidc/callback", "redirect=/")
    assert resp.status == 307
    token = env.browser.cookie("coder_session_token")
    async with env.browser.session.get(
        f"{env.base}/api/v2/users/me", headers={"Coder-Session-Token": token or ""}
    ) as me:
        assert me.status == 200
        assert (await me.json())["login_type"] == "oidc"


async def test_conversion_without_a_session_signs_in(env: Env) -> None:
    """A conversion callback that carries no session creates one."""
    await env.user("ann@corp.example")
    state = await env.start_conversion("ann@corp.example")
    env.browser.drop_cookie("coder_session_token")
    env.idp.next_login("idp-ann", "ann@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 307
    assert env.browser.cookie("coder_session_token")


async def test_expired_state(env: Env) -> None:
    """After 5 minutes the conversion cookie is expired: 500 Error parsing jwt."""
    await env.user("bea@corp.example")
    state = await env.start_conversion("bea@corp.example")
    env.clock.advance(301)
    env.idp.next_login("idp-bea", "bea@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 500
    assert (await resp.json())["message"].startswith("Error parsing jwt: ")


async def test_state_used_twice(env: Env) -> None:
    """A conversion state converts once; replaying it fails."""
    await env.user("cal@corp.example")
    state = await env.start_conversion("cal@corp.example")
    cookie = env.browser.cookie("coder_oauth_convert_jwt")
    env.idp.next_login("idp-cal", "cal@corp.example")
    assert (await env.sign_in("oidc/callback", f"oidc_merge_state={state}")).status == 307
    env.browser.session.cookie_jar.update_cookies({"coder_oauth_convert_jwt": cookie or ""})
    env.idp.next_login("idp-cal", "cal@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 403
    assert (await resp.json())["message"].startswith("Request to convert login type")


async def test_cookie_missing(env: Env) -> None:
    """No conversion cookie: 400 with Coder's message."""
    await env.user("dan@corp.example")
    state = await env.start_conversion("dan@corp.example")
    env.browser.drop_cookie("coder_oauth_convert_jwt")
    env.idp.next_login("idp-dan", "dan@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Convert to oauth cookie not found. Missing signed jwt to authorize this "
        "action. Please try again."
    }


async def test_cookie_signed_with_another_key(env: Env) -> None:
    """A cookie signed with another deployment's key: 400 invalid jwt."""
    alice = await env.user("eve@corp.example")
    state = await env.start_conversion("eve@corp.example")
    kid, key = derive_key("some-other-deployment-secret")
    forged = jwt.encode(
        {"alg": "HS512", "kid": kid},
        {
            "iss": "x",
            "state": state,
            "user_id": alice.id,
            "exp": int(env.clock.now) + 300,
            "from_login_type": "password",
            "to_login_type": "oidc",
        },
        key,
        algorithms=["HS512"],
    )
    env.browser.drop_cookie("coder_oauth_convert_jwt")
    env.browser.session.cookie_jar.update_cookies({"coder_oauth_convert_jwt": forged})
    env.idp.next_login("idp-eve", "eve@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Using an invalid jwt to authorize this action. Ensure there is only 1 coder "
        "deployment and try again."
    }


async def test_state_cookie_mismatch(env: Env) -> None:
    """The cookie of one conversion with the state of another: 403 State mismatch."""
    await env.user("fay@corp.example")
    first = await env.start_conversion("fay@corp.example")
    await env.start_conversion("fay@corp.example")  # its cookie replaces the first one's
    env.idp.next_login("idp-fay", "fay@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={first}")
    assert resp.status == 403
    assert await resp.json() == {"message": "Request to convert login type failed. State mismatch."}


async def test_provider_email_of_someone_else(env: Env) -> None:
    """The IdP account's email is another user's, or nobody's: the conversion is refused."""
    await env.user("gus@corp.example")
    await env.user("hal@corp.example")
    state = await env.start_conversion("gus@corp.example")
    env.idp.next_login("idp-x", "hal@corp.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 403
    assert await resp.json() == {
        "message": "Request to convert login type from password to oidc failed"
    }
    state = await env.start_conversion("gus@corp.example")
    env.idp.next_login("idp-y", "stranger@elsewhere.example")
    resp = await env.sign_in("oidc/callback", f"oidc_merge_state={state}")
    assert resp.status == 400
    assert await resp.json() == {
        "message": 'The oidc account with the email "stranger@elsewhere.example" does not match '
        "the email of the account you are trying to convert. Contact your administrator to resolve "
        "this issue."
    }


async def test_wrong_login_type_for_plain_sign_in(env: Env) -> None:
    """A password user signing in through OIDC without converting: 403 login type."""
    await env.user("ida@corp.example")
    env.idp.next_login("idp-ida", "ida@corp.example")
    resp = await env.sign_in("oidc/callback", "redirect=/")
    assert resp.status == 403
    assert await resp.json() == {
        "message": 'Incorrect login type, attempting to use "oidc" but user is of login '
        'type "password"'
    }


async def test_oidc_signup_and_unverified_email(env: Env) -> None:
    """A new identity signs up (OIDC signups on); an unverified email is refused."""
    env.idp.next_login("idp-new", "newcomer@corp.example", username="newcomer")
    resp = await env.sign_in("oidc/callback", "redirect=/welcome")
    assert resp.status == 307 and resp.headers["Location"] == "/welcome"
    user = await env.app[keys.USERS].by_email("newcomer@corp.example")
    assert user is not None and user.login_type == "oidc" and user.username == "newcomer"
    env.idp.next_login("idp-unverified", "unverified@corp.example", verified=False)
    resp = await env.sign_in("oidc/callback", "redirect=/")
    assert resp.status == 403


async def test_open_redirect_is_refused(env: Env) -> None:
    """`redirect` must be a same-origin path; others go to /."""
    async with env.browser.session.get(
        f"{env.base}/api/v2/users/oidc/callback?redirect=//evil.example/x", allow_redirects=False
    ) as resp:
        assert resp.status == 307
    assert env.browser.cookie("oauth_redirect") == "/"


async def test_callback_state_checks(env: Env) -> None:
    """A callback without the state cookie, or with another state, is refused."""
    async with env.browser.session.get(
        f"{env.base}/api/v2/users/oidc/callback?code=x&state=y", allow_redirects=False
    ) as resp:
        assert resp.status == 401
        assert await resp.json() == {"message": 'Cookie "oauth_state" must be provided.'}
    async with env.browser.session.get(
        f"{env.base}/api/v2/users/oidc/callback", allow_redirects=False
    ) as resp:
        assert resp.status == 307
    async with env.browser.session.get(
        f"{env.base}/api/v2/users/oidc/callback?code=x&state=other", allow_redirects=False
    ) as resp:
        assert resp.status == 401
        assert await resp.json() == {"message": "State mismatched."}


async def test_github_conversion_and_sign_in(env: Env) -> None:
    """Convert to GitHub via the imitation, then sign in with GitHub."""
    jo = await env.user("jo@corp.example")
    users = env.github.users
    users["code-jo"] = {"id": 4242, "login": "jo-gh", "email": "jo@corp.example", "verified": True}
    env.github[NEXT_CODE]["code"] = "code-jo"
    state = await env.start_conversion("jo@corp.example", "github")
    resp = await env.sign_in("oauth2/github/callback", f"oidc_merge_state={state}")
    assert resp.status == 307, await resp.text()
    user = await env.app[keys.USERS].get(jo.id)
    assert user is not None and (user.login_type, user.links) == ("github", {"github": "4242"})
    resp = await env.sign_in("oauth2/github/callback", "redirect=/")
    assert resp.status == 307
    assert env.browser.cookie("coder_session_token")


async def test_provider_not_configured(client: Client) -> None:
    """Callbacks of an unconfigured provider answer Coder's 400 with the envelope."""
    for provider in ("oidc", "oauth2/github"):
        resp = await client.get(f"/api/v2/users/{provider}/callback", allow_redirects=False)
        assert resp.status == 400
        assert await resp.json() == {"message": "The oauth2 method requested is not configured!"}


async def test_merge_state_of_another_browser_is_refused(env: Env) -> None:
    """Login CSRF by state fixation: a victim's browser cannot be given an attacker's
    conversion state; nothing is stored or planted."""
    await env.user("mal@corp.example")
    attacker_state = await env.start_conversion("mal@corp.example")
    victim = Browser()
    try:
        start = f"{env.base}/api/v2/users/oidc/callback?oidc_merge_state={attacker_state}"
        async with victim.session.get(start, allow_redirects=False) as resp:
            assert resp.status == 400
            assert (await resp.json())["message"].startswith("Convert to oauth cookie not found")
        assert victim.cookie("oauth_state") is None
        # A made-up state, conversion-shaped or not, is refused as well.
        for state in ("convert-" + "A" * 32, "chosen-by-attacker"):
            async with victim.session.get(
                f"{env.base}/api/v2/users/oidc/callback?oidc_merge_state={state}",
                allow_redirects=False,
            ) as resp:
                assert resp.status in (400, 403)
        assert victim.cookie("oauth_state") is None
    finally:
        await victim.close()


async def test_callback_from_another_browser_is_refused(env: Env) -> None:
    """An attacker's own sign-in, completed in the victim's browser (even one holding the
    attacker's state cookie), fails: the flow is bound to the secret of the browser that
    started it."""
    await env.user("mal@corp.example", None, login_type="oidc")
    env.idp.next_login("idp-mal", "mal@corp.example")
    callback = f"{env.base}/api/v2/users/oidc/callback"
    async with env.browser.session.get(callback, allow_redirects=False) as resp:
        assert resp.status == 307
        authorize = resp.headers["Location"]
    back = await env.browser.walk(authorize, callback)  # the attacker stops before the callback
    state = env.browser.cookie("oauth_state") or ""
    victim = Browser()
    try:
        victim.session.cookie_jar.update_cookies({"oauth_state": state})  # planted somehow
        async with victim.session.get(back, allow_redirects=False) as resp:
            assert resp.status == 401
            assert (await resp.json())["message"] == (
                "This sign-in was not started in this browser. Please try again."
            )
        assert victim.cookie("coder_session_token") is None
    finally:
        await victim.close()


async def test_flow_record_is_never_overwritten(env: Env) -> None:
    """Starting a flow with the state of a live one is refused; the first flow still works."""
    await env.user("nia@corp.example")
    state = await env.start_conversion("nia@corp.example")
    start = f"{env.base}/api/v2/users/oidc/callback?oidc_merge_state={state}"
    async with env.browser.session.get(start, allow_redirects=False) as resp:
        assert resp.status == 307
        authorize = resp.headers["Location"]
    async with env.browser.session.get(start, allow_redirects=False) as again:
        assert again.status == 409
    env.idp.next_login("idp-nia", "nia@corp.example")
    for name in [c.key for c in env.browser.session.cookie_jar if c.key.startswith("_session")]:
        env.browser.drop_cookie(name)
    callback = f"{env.base}/api/v2/users/oidc/callback"
    back = await env.browser.walk(authorize, callback)
    async with env.browser.session.get(back, allow_redirects=False) as resp:
        assert resp.status == 307, await resp.text()


@pytest.mark.parametrize("claim", ["true", 1, None])
async def test_email_verified_must_be_json_true(env: Env, claim: Any) -> None:
    """An `email_verified` that is a string, a number or missing leaves the address unverified."""
    env.idp.next_login("idp-odd", "odd@corp.example", verified=claim)
    resp = await env.sign_in("oidc/callback", "redirect=/")
    assert resp.status == 403
    assert "Verify the" in (await resp.json())["message"]
    assert await env.app[keys.USERS].by_email("odd@corp.example") is None


def _discovery_app(issuer: list[str]) -> web.Application:
    """A provider whose discovery document names issuer[0] (the test sets it)."""

    async def document(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        return web.json_response(
            {
                "issuer": issuer[0] or base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
            }
        )

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", document)
    return app


async def test_wrong_issuer_stops_start_up(aiohttp_client: AiohttpClient, redis_url: str) -> None:
    """A reachable provider whose discovery names another issuer: start-up stops with one line
    naming the setting."""
    provider = TestServer(_discovery_app(["https://someone-else.example"]), host="127.0.0.1")
    await provider.start_server()
    try:
        settings = make_settings(
            redis_url,
            oidc_issuer_url=f"http://127.0.0.1:{provider.port}",
            oidc_client_id=CLIENT_ID,
        )
        with pytest.raises(SettingsError) as refused:
            await aiohttp_client(create_app(settings))
        message = str(refused.value)
        assert message.startswith("invalid setting AUTHSVC_OIDC_ISSUER_URL (--oidc-issuer-url)")
        assert "someone-else.example" in message and "\n" not in message
    finally:
        await provider.close()


async def test_unreachable_provider_answers_503_until_it_is_back(
    aiohttp_client: AiohttpClient, redis_url: str
) -> None:
    """The provider down at start-up: the service starts, sign-in answers a 503 envelope with
    Retry-After, and works once the provider answers."""
    port = free_port()
    settings = make_settings(
        redis_url, oidc_issuer_url=f"http://127.0.0.1:{port}", oidc_client_id=CLIENT_ID
    )
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/api/v2/users/oidc/callback", allow_redirects=False)
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    assert (await resp.json())["message"] == (
        "The identity provider is not available. Try again shortly."
    )
    provider = TestServer(_discovery_app([""]), host="127.0.0.1", port=port)
    await provider.start_server()
    try:
        resp = await client.get("/api/v2/users/oidc/callback", allow_redirects=False)
        assert resp.status == 307
        assert resp.headers["Location"].startswith(f"http://127.0.0.1:{port}/authorize?")
    finally:
        await provider.close()


async def test_silent_provider_does_not_hold_start_up(
    aiohttp_client: AiohttpClient, redis_url: str
) -> None:
    """A provider that accepts connections and never answers: start-up goes on within about
    5 seconds, and sign-ins answer the 503 envelope."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = make_settings(
            redis_url, oidc_issuer_url=f"http://127.0.0.1:{port}", oidc_client_id=CLIENT_ID
        )
        started = time.monotonic()
        client = await aiohttp_client(create_app(settings))
        assert time.monotonic() - started < 10
        started = time.monotonic()
        resp = await client.get("/api/v2/users/oidc/callback", allow_redirects=False)
        assert resp.status == 503
        assert time.monotonic() - started < 10
