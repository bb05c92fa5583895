"""Attacks, each a test: brute force on passwords and codes, timing, and bad tokens."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from http.cookies import SimpleCookie
from typing import Any

import pytest

from service import keys
from service.auth.signin import ExternalIdentity
from service.auth.users import NewUser, UserExists
from service.errors import ApiError
from tests.conftest import Client, MakeClient, login
from tests.support import STRONG, FakeClock, RecordingSmtp, wait_until

LOGIN = "/api/v2/users/login"
ME = "/api/v2/users/me"


async def add(client: Client, email: str, password: str = STRONG) -> None:
    app = client.app
    user = await app[keys.DIRECTORY].create(
        NewUser(email, email.split("@")[0], await app[keys.PASSWORDS].hash(password))
    )
    assert user is not None


async def test_thousand_wrong_passwords_from_many_addresses(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """1,000 guesses from 1,000 addresses: 100 are checked, then 429 + Retry-After for all
    clients the account has never signed in from; its own browser still gets in."""
    client = await make_client(
        trusted_proxies="127.0.0.1/32", login_failure_limit=10, login_failure_window="15m"
    )
    await add(client, "victim@corp.example")
    await add(client, "bystander@corp.example")
    # The owner signed in from this browser before: it holds a device cookie.
    await client.post(LOGIN, json={"email": "victim@corp.example", "password": STRONG})
    device = {c.key: c.value for c in client.session.cookie_jar if c.key.startswith("authsvc_")}
    assert len(device) == 1
    client.session.cookie_jar.clear()
    statuses: list[int] = []
    retry_after: set[str] = set()
    for i in range(1000):
        resp = await client.post(
            LOGIN,
            json={"email": "victim@corp.example", "password": f"guess-{i}"},
            headers={"X-Forwarded-For": f"198.51.{i // 250}.{i % 250}"},
        )
        statuses.append(resp.status)
        if resp.status == 429:
            retry_after.add(resp.headers["Retry-After"])
            assert "failed login attempts for this account" in (await resp.json())["message"]
    assert statuses.count(401) == 100 and statuses.count(429) == 900
    assert all(0 < int(r) <= 900 for r in retry_after)
    # A new client is held off while the window lasts; other accounts are not affected...
    assert (
        await client.post(LOGIN, json={"email": "victim@corp.example", "password": STRONG})
    ).status == 429
    await login(client, "bystander@corp.example")
    # ...the owner's known browser is not locked out at all...
    resp = await client.post(
        LOGIN, json={"email": "victim@corp.example", "password": STRONG}, cookies=device
    )
    assert resp.status == 201
    client.session.cookie_jar.clear()
    # ...and the budget expires by itself: no permanent lockout.
    clock.advance(15 * 60 + 1)
    await login(client, "victim@corp.example")


async def test_one_stranger_cannot_lock_the_owner_out(
    make_client: MakeClient, smtp: RecordingSmtp
) -> None:
    """The review's attack from one address: 10 wrong passwords, 3 reset requests and 5 wrong
    codes, repeated; the owner, from elsewhere and with no device cookie, signs in and resets."""
    client = await make_client(
        trusted_proxies="127.0.0.1/32", smtp_host="127.0.0.1", smtp_port=smtp.port
    )
    await add(client, "kim@corp.example")
    attacker = {"X-Forwarded-For": "198.51.100.66"}
    owner = {"X-Forwarded-For": "203.0.113.20"}
    for _ in range(2):
        for i in range(11):
            await client.post(
                LOGIN, json={"email": "kim@corp.example", "password": f"x{i}"}, headers=attacker
            )
        for _ in range(4):
            await client.post(
                "/api/v2/users/otp/request", json={"email": "kim@corp.example"}, headers=attacker
            )
        for _ in range(6):
            await client.post(
                "/api/v2/users/otp/change-password",
                json={
                    "email": "kim@corp.example",
                    "one_time_passcode": str(uuid.uuid4()),
                    "password": "Fresh-Secret-99!",
                },
                headers=attacker,
            )
    resp = await client.post(
        LOGIN, json={"email": "kim@corp.example", "password": STRONG}, headers=owner
    )
    assert resp.status == 201
    await wait_until(lambda: len(smtp.to("kim@corp.example")) == 3)
    assert (
        await client.post(
            "/api/v2/users/otp/request", json={"email": "kim@corp.example"}, headers=owner
        )
    ).status == 204
    await wait_until(lambda: len(smtp.to("kim@corp.example")) == 4)
    first_code = (
        (smtp.to("kim@corp.example")[0].get_body(preferencelist=("plain",)).get_content())
        .split("one-time passcode: ")[1]
        .split()[0]
    )
    resp = await client.post(
        "/api/v2/users/otp/change-password",
        json={
            "email": "kim@corp.example",
            "one_time_passcode": first_code,
            "password": "Fresh-Secret-99!",
        },
        headers=owner,
    )
    assert resp.status == 204  # even the first code mailed is still good


async def test_ipv6_clients_are_counted_by_network(make_client: MakeClient) -> None:
    """Rotating through the addresses of one IPv6 /64 does not buy a fresh budget."""
    client = await make_client(trusted_proxies="127.0.0.1/32", login_failure_limit=3)
    await add(client, "v6@corp.example")
    statuses = []
    for i in range(5):
        resp = await client.post(
            LOGIN,
            json={"email": "v6@corp.example", "password": f"x{i}"},
            headers={"X-Forwarded-For": f"2001:db8:1:2::{i + 1:x}"},
        )
        statuses.append(resp.status)
    assert statuses == [401, 401, 401, 429, 429]
    resp = await client.post(
        LOGIN,
        json={"email": "v6@corp.example", "password": STRONG},
        headers={"X-Forwarded-For": "2001:db8:1:3::1"},  # another /64: its own budget
    )
    assert resp.status == 201


async def test_forwarded_for_only_from_trusted_proxies(make_client: MakeClient) -> None:
    """X-Forwarded-For from an untrusted peer is ignored: the per-IP limit still applies."""
    client = await make_client(login_rate_limit=5, login_failure_limit=-1)  # no trusted proxies
    statuses = []
    for i in range(6):
        resp = await client.post(
            LOGIN,
            json={"email": "x@corp.example", "password": "p"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        statuses.append(resp.status)
    assert statuses == [401] * 5 + [429]


async def test_thousand_guessed_codes_in_parallel(
    make_client: MakeClient, smtp: RecordingSmtp
) -> None:
    """1,000 parallel guesses from one client: 5 are compared, none succeeds, the rest 429;
    the owner's code is not voided."""
    client = await make_client(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        login_rate_limit=-1,
        api_rate_limit=-1,
        trusted_proxies="127.0.0.1/32",
    )
    await add(client, "otp@corp.example")
    assert (
        await client.post("/api/v2/users/otp/request", json={"email": "otp@corp.example"})
    ).status == 204
    await wait_until(lambda: len(smtp.messages) == 1)
    body = smtp.messages[0].get_body(preferencelist=("plain",)).get_content()
    code = body.split("one-time passcode: ")[1].split()[0]

    async def guess(otp: str, ip: str = "198.51.100.99") -> int:
        resp = await client.post(
            "/api/v2/users/otp/change-password",
            json={
                "email": "otp@corp.example",
                "one_time_passcode": otp,
                "password": "Fresh-Secret-99!",
            },
            headers={"X-Forwarded-For": ip},
        )
        return resp.status

    statuses: list[int] = []
    for _ in range(20):
        statuses += await asyncio.gather(*[guess(str(uuid.uuid4())) for _ in range(50)])
    assert sorted(statuses) == [400] * 5 + [429] * 995
    assert await guess(code) == 429  # this client is done guessing...
    assert await guess(code, "203.0.113.1") == 204  # ...the owner's code is intact


async def test_login_timing_does_not_reveal_accounts(make_client: MakeClient) -> None:
    """Unknown email vs wrong password, default argon2id: medians within a generous bound."""
    client = await make_client(
        argon2_memory_cost=19456, argon2_time_cost=2, login_rate_limit=-1, login_failure_limit=-1
    )
    await add(client, "timed@corp.example")

    async def timed(email: str) -> float:
        start = time.perf_counter()
        resp = await client.post(LOGIN, json={"email": email, "password": "wrong-password"})
        assert resp.status == 401
        return time.perf_counter() - start

    known: list[float] = []
    unknown: list[float] = []
    for _ in range(40):  # interleaved, so both see the same machine noise
        known.append(await timed("timed@corp.example"))
        unknown.append(await timed("nobody@corp.example"))
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.85 < ratio < 1.15, ratio


async def test_bad_tokens(client: Client, make_user: Any, clock: FakeClock) -> None:
    """Forged, truncated, other user's secret, expired, revoked, other-path cookie: all 401."""
    await make_user("ann@corp.example")
    await make_user("ben@corp.example")
    ann = await login(client, "ann@corp.example")
    ben = await login(client, "ben@corp.example")

    async def detail(headers: dict[str, str]) -> str:
        resp = await client.get(ME, headers=headers)
        assert resp.status == 401
        return str((await resp.json())["detail"])

    assert await detail({"Coder-Session-Token": "Zz9Zz9Zz9Z-" + "Q" * 22}) == "API key is invalid."
    assert await detail({"Coder-Session-Token": ann[:20]}) == (
        "Invalid API key format: invalid API key secret length, expected 22 got 9"
    )
    mixed = ann.split("-")[0] + "-" + ben.split("-")[1]
    assert await detail({"Coder-Session-Token": mixed}) == "API key secret is invalid."
    await client.post("/api/v2/users/logout", headers={"Coder-Session-Token": ben})
    assert await detail({"Coder-Session-Token": ben}) == "API key is invalid."
    # A cookie set for another path is not sent to the API (the browser's rule, the jar's too).
    other_path = SimpleCookie()
    other_path["coder_session_token"] = ann
    other_path["coder_session_token"]["path"] = "/somewhere-else"
    client.session.cookie_jar.update_cookies(other_path, response_url=client.make_url("/"))
    assert await detail({}) == 'Cookie "coder_session_token" or query parameter must be provided.'
    client.session.cookie_jar.clear()
    clock.advance(25 * 3600)
    assert (await detail({"Coder-Session-Token": ann})).startswith("API key expired at")


async def test_look_alike_addresses_match_nothing(
    make_client: MakeClient, smtp: RecordingSmtp
) -> None:
    """KELVIN SIGN and fullwidth look-alikes neither sign in, reset, sign up nor link."""
    client = await make_client(smtp_host="127.0.0.1", smtp_port=smtp.port)
    await add(client, "kelly@corp.test")
    kelly = await client.app[keys.USERS].by_email("KELLY@corp.test")  # ASCII case: the same
    assert kelly is not None
    for fake in ("\u212aelly@corp.test", "\uff4belly@corp.test"):
        assert await client.app[keys.USERS].by_email(fake) is None
        resp = await client.post(LOGIN, json={"email": fake, "password": STRONG})
        assert resp.status == 401
        assert (await client.post("/api/v2/users/otp/request", json={"email": fake})).status == 204
        with pytest.raises(UserExists):  # nor can it be registered beside the real one
            await client.app[keys.DIRECTORY].create(NewUser(fake, "kelly-2", ""))
        with pytest.raises(ApiError) as refused:
            await client.app[keys.SIGNIN].complete(
                ExternalIdentity("oidc", "attacker-subject", fake, True),
                "some-state",
                None,
                "",
                "198.51.100.1",
            )
        assert refused.value.status == 409
    await asyncio.sleep(0.5)
    assert smtp.to("kelly@corp.test") == []
    after = await client.app[keys.USERS].get(kelly.id)
    assert after is not None and after.links == {} and after.login_type == "password"
