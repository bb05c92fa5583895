"""What a browser on another origin can make the service do: nothing (HTTP level).

The cross-origin guard for unsafe methods, the one redirect check, and the operational
findings of the security review (CLI writes reach running replicas, no reset codes in the log
by accident, secure cookies behind https, predictable secret keys refused). The same attacks
from a real attacker page in Chromium are in tests/web/test_attacker_page.py.
"""

from __future__ import annotations

import pytest

from service.api.responses import safe_redirect
from service.app import create_app
from service.settings import SettingsError, load_settings
from tests.conftest import Client, MakeClient, MakeUser, login, make_settings
from tests.support import STRONG
from tests.test_cli import run

LOGIN = "/api/v2/users/login"
LOGOUT = "/api/v2/users/logout"
ME = "/api/v2/users/me"
CREDENTIALS = {"email": "pat@corp.example", "password": STRONG}


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # curl, Coder's CLI, agents: no browser, no ambient cookies
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, False),
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://sibling.authsvc.test"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": "https://evil.example"}, False),  # an old browser: Origin only
        ({"Origin": "null"}, False),
        ({"Origin": "http://authsvc.test"}, True),  # PUBLIC_URL's origin
        ({"Origin": "HTTP://AUTHSVC.TEST", "Sec-Fetch-Site": "same-site"}, True),
        ({"Origin": "https://portal.corp.example", "Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "https://other.corp.example:8443", "Sec-Fetch-Site": "cross-site"}, True),
    ],
)
async def test_cross_origin_guard(
    make_client: MakeClient, make_user: MakeUser, headers: dict[str, str], allowed: bool
) -> None:
    """Unsafe requests from a foreign origin are refused with 403; others pass."""
    client = await make_client(
        trusted_origins="https://portal.corp.example:443,https://other.corp.example:8443"
    )
    await make_user("pat@corp.example")
    resp = await client.post(
        LOGIN,
        data=b'{"email":"pat@corp.example","password":"' + STRONG.encode() + b'"}',
        headers={"Content-Type": "text/plain", **headers},
    )
    if allowed:
        assert resp.status == 201
    else:
        assert resp.status == 403
        body = await resp.json()
        assert body["message"] == "Cross-origin request refused."
        assert "Set-Cookie" not in resp.headers


async def test_origin_matching_the_host_passes(client: Client, make_user: MakeUser) -> None:
    """Without Sec-Fetch-Site, an Origin naming the request's own host is same-origin."""
    await make_user("pat@corp.example")
    origin = f"http://{client.server.host}:{client.server.port}"
    resp = await client.post(LOGIN, json=CREDENTIALS, headers={"Origin": origin})
    assert resp.status == 201


async def test_cookie_logout_from_a_sibling_origin_is_refused(
    client: Client, make_user: MakeUser
) -> None:
    """A same-site sibling page cannot sign the user out with their cookie."""
    await make_user("pat@corp.example")
    token = await login(client, "pat@corp.example")
    cookies = {"coder_session_token": token}
    resp = await client.post(
        LOGOUT,
        data=b"",
        cookies=cookies,
        headers={"Sec-Fetch-Site": "same-site", "Origin": "http://other.authsvc.test"},
    )
    assert resp.status == 403
    assert (await client.get(ME, headers={"Coder-Session-Token": token})).status == 200
    resp = await client.post(LOGOUT, cookies=cookies, headers={"Sec-Fetch-Site": "same-origin"})
    assert resp.status == 200


async def test_safe_methods_are_not_guarded(client: Client) -> None:
    """GET stays open to cross-site navigation (pages, provider callbacks)."""
    resp = await client.get("/login", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status == 200


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", "/"),
        ("/workspaces?tab=1#top", "/workspaces?tab=1#top"),
        ("/caf\u00e9", "/caf\u00e9"),
        ("//evil.example/x", "/"),
        ("/\t/evil.example/x", "/"),
        ("/\n/evil.example", "/"),
        ("/\r\n/evil.example", "/"),
        ("/ /evil.example", "/"),
        ("/\u00a0/evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/x\\y", "/"),
        ("\\\\evil.example", "/"),
        ("/\x00/evil.example", "/"),
        ("/\u200b/evil.example", "/"),
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("", "/"),
    ],
)
def test_safe_redirect(target: str, expected: str) -> None:
    """Only same-origin paths survive; control characters, spaces and backslashes do not."""
    assert safe_redirect(target) == expected


async def test_redirect_on_the_login_page(client: Client) -> None:
    """/login?redirect=/%09/evil.example/x renders "/" as the place to go after sign-in."""
    for query in ("/%09/evil.example/x", "/%0d%0a/evil.example", "/%5Cevil.example"):
        resp = await client.get(f"/login?redirect={query}")
        assert resp.status == 200
        assert 'data-redirect="/"' in await resp.text()


async def test_cli_writes_reach_running_replicas(
    make_client: MakeClient, make_user: MakeUser, redis_url: str
) -> None:
    """`users set-status` and `set-roles` through the CLI evict every replica's cache at once."""
    client = await make_client(session_cache_ttl=300)
    user = await make_user("pat@corp.example", roles=("owner",))
    await make_user("quin@corp.example", roles=("owner",))  # the owner who stays
    token = await login(client, "pat@corp.example")
    headers = {"Coder-Session-Token": token}
    assert (await client.get(ME, headers=headers)).status == 200  # now cached for 300 s
    check = {"checks": {"x": {"object": {"resource_type": "license"}, "action": "create"}}}
    resp = await client.post("/api/v2/authcheck", json=check, headers=headers)
    assert await resp.json() == {"x": True}
    result = run(redis_url, "users", "set-roles", user.id)
    assert result.returncode == 0, result.stderr

    async def denied() -> bool:
        resp = await client.post("/api/v2/authcheck", json=check, headers=headers)
        return bool(await resp.json() == {"x": False})

    await _eventually(denied)
    result = run(redis_url, "users", "set-status", user.id, "suspended")
    assert result.returncode == 0, result.stderr

    async def signed_out() -> bool:
        return (await client.get(ME, headers=headers)).status == 401

    await _eventually(signed_out)


async def _eventually(condition: object, timeout: float = 5.0) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the change did not reach the replica in time"
        await asyncio.sleep(0.05)


def test_no_mail_transport_outside_embedded_mode(redis_url: str) -> None:
    """With Redis and no SMTP_HOST the service refuses to start, unless told it is development."""
    settings = make_settings(redis_url, dev_mail_to_log=False)
    with pytest.raises(SettingsError, match="AUTHSVC_SMTP_HOST is required"):
        create_app(settings)
    create_app(make_settings(redis_url, dev_mail_to_log=True))
    create_app(make_settings(redis_url, dev_mail_to_log=False, smtp_host="127.0.0.1"))
    create_app(make_settings("memory://", dev_mail_to_log=False))
    result = run(redis_url, "serve", "--port", "0")
    assert result.returncode != 0
    assert "AUTHSVC_SMTP_HOST is required" in result.stderr
    assert "Traceback" not in result.stderr


async def test_secure_cookie_follows_public_url(
    make_client: MakeClient, make_user: MakeUser
) -> None:
    """Behind https the session cookie is Secure unless SECURE_AUTH_COOKIE says otherwise."""
    await make_user("pat@corp.example")
    for public_url, setting, secure in [
        ("https://auth.corp.example", None, True),
        ("http://authsvc.test", None, False),
        ("https://auth.corp.example", False, False),
        ("http://authsvc.test", True, True),
    ]:
        client = await make_client(public_url=public_url, secure_auth_cookie=setting)
        resp = await client.post(LOGIN, json=CREDENTIALS)
        assert resp.status == 201
        cookie = next(
            c for c in resp.headers.getall("Set-Cookie") if c.startswith("coder_session_token=")
        )
        assert ("; Secure" in cookie) is secure, (public_url, setting, cookie)


@pytest.mark.parametrize(
    "secret",
    [
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "0123456789abcdef",
        "abcdefghijklmnopqrstuvwxyz",
        "abcabcabcabcabcabcabcabc",
        "qwertyuiopqwertyuiop",
        "short",
    ],
)
def test_predictable_secret_keys_are_refused(secret: str) -> None:
    """A repeated, sequential or short SECRET_KEY stops start-up with one line naming it."""
    with pytest.raises(SettingsError) as refused:
        load_settings(redis_url="redis://127.0.0.1:1", secret_key=secret)
    assert str(refused.value).startswith("invalid setting AUTHSVC_SECRET_KEY")
    assert "\n" not in str(refused.value)


def test_random_secret_keys_are_accepted() -> None:
    """Keys from `openssl rand -hex 32` and similar pass."""
    for secret in (
        "9f2c1e4b7a0d3f6e8b5c2a1d4e7f0a3b",
        "k7Qp-2xZr_9LmW4vT8nB",
        "test-secret-key-0123456789",
    ):
        assert load_settings(redis_url="redis://127.0.0.1:1", secret_key=secret).secret_key
