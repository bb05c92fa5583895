"""Attacks, each a test: brute force on passwords and codes, timing, and bad tokens."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from http.cookies import SimpleCookie
from typing import Any

from service import keys
from service.auth.users import NewUser
from service.store import keys as store_keys
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
    """1,000 guesses from 1,000 addresses: the account budget answers 429 + Retry-After."""
    client = await make_client(
        trusted_proxies="127.0.0.1/32", login_failure_limit=10, login_failure_window="15m"
    )
    await add(client, "victim@corp.example")
    await add(client, "bystander@corp.example")
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
    assert statuses.count(401) == 10 and statuses.count(429) == 990
    assert all(0 < int(r) <= 900 for r in retry_after)
    # The real user is held off too while the window lasts, others are not affected...
    assert (
        await client.post(LOGIN, json={"email": "victim@corp.example", "password": STRONG})
    ).status == 429
    await login(client, "bystander@corp.example")
    # ...and the budget expires by itself: no permanent lockout.
    clock.advance(15 * 60 + 1)
    await login(client, "victim@corp.example")


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
    """1,000 parallel guesses: none succeeds, the code is void after 5, counts exact."""
    client = await make_client(
        smtp_host="127.0.0.1", smtp_port=smtp.port, login_rate_limit=-1, api_rate_limit=-1
    )
    await add(client, "otp@corp.example")
    user = await client.app[keys.USERS].by_email("otp@corp.example")
    assert user is not None
    assert (
        await client.post("/api/v2/users/otp/request", json={"email": "otp@corp.example"})
    ).status == 204
    await wait_until(lambda: len(smtp.messages) == 1)
    body = smtp.messages[0].get_body(preferencelist=("plain",)).get_content()
    code = body.split("one-time passcode: ")[1].split()[0]

    async def guess(otp: str) -> int:
        resp = await client.post(
            "/api/v2/users/otp/change-password",
            json={
                "email": "otp@corp.example",
                "one_time_passcode": otp,
                "password": "Fresh-Secret-99!",
            },
        )
        return resp.status

    first = await asyncio.gather(*[guess(str(uuid.uuid4())) for _ in range(3)])
    assert first == [400, 400, 400]
    assert await client.app[keys.REDIS].hget(store_keys.otp(user.id), "attempts") == "3"
    statuses: list[int] = []
    for _ in range(20):
        statuses += await asyncio.gather(*[guess(str(uuid.uuid4())) for _ in range(50)])
    assert statuses == [400] * 1000
    assert await client.app[keys.REDIS].exists(store_keys.otp(user.id)) == 0  # voided at the cap
    assert await guess(code) == 400  # the real code is dead too
    await login(client, "otp@corp.example")  # the password is unchanged


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
