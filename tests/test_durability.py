"""Faults with real processes: Redis killed under load, then back with AOF; nothing lost."""

from __future__ import annotations

import asyncio
import time

from service import keys
from service.app import create_app
from service.auth.users import NewUser
from service.clock import system_clock
from service.store import keys as store_keys
from tests.conftest import AiohttpClient, make_settings
from tests.support import STRONG, RecordingSmtp, free_port, start_redis, wait_until

AOF = ("--appendonly", "yes", "--appendfsync", "always")


async def test_redis_killed_under_load_then_back_with_aof(aiohttp_client: AiohttpClient) -> None:
    """Every request answers (503 or success, never 500) within the timeout while Redis is down;
    after a restart the service recovers by itself, and the session, the live passcode and the
    queued mail that Redis had acknowledged are all still there."""
    server = start_redis(None, *AOF)
    smtp_port = free_port()
    settings = make_settings(
        server.url,
        redis_timeout=0.5,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_connect_timeout=0.3,
        mail_retry_max_delay=0.3,
        session_cache_ttl=0,
        login_failure_limit=-1,
        api_rate_limit=-1,
        login_rate_limit=-1,
    )
    client = await aiohttp_client(create_app(settings, clock=system_clock))
    app = client.app
    try:
        user = await app[keys.DIRECTORY].create(
            NewUser("dur@corp.example", "dur", await app[keys.PASSWORDS].hash(STRONG))
        )
        assert user is not None
        resp = await client.post(
            "/api/v2/users/login", json={"email": "dur@corp.example", "password": STRONG}
        )
        token = (await resp.json())["session_token"]
        client.session.cookie_jar.clear()
        headers = {"Coder-Session-Token": token}
        # SMTP is down: the reset mail waits in the outbox (in Redis).
        assert (
            await client.post("/api/v2/users/otp/request", json={"email": "dur@corp.example"})
        ).status == 204
        await wait_until(lambda: app[keys.OUTBOX_WORKER].failures >= 1)

        async def one() -> tuple[int, float]:
            start = time.monotonic()
            r = await client.get("/api/v2/users/me", headers=headers)
            await r.read()
            return r.status, time.monotonic() - start

        load = [asyncio.create_task(one()) for _ in range(30)]
        server.crash()
        during = await asyncio.gather(*load, *[one() for _ in range(30)])
        assert {status for status, _ in during} <= {200, 503}
        assert 503 in {status for status, _ in during}
        assert max(elapsed for _, elapsed in during) < 2.0

        server = start_redis(server.port, *AOF, workdir=server.workdir)
        await wait_until(lambda: True)
        for _ in range(50):
            status, _ = await one()
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200  # recovered with no restart of the service; the session survived
        assert await app[keys.REDIS].exists(store_keys.otp(user.id)) == 1
        assert (await app[keys.OUTBOX].stats())["depth"] >= 1
        smtp = RecordingSmtp(smtp_port).start()
        try:
            await wait_until(lambda: len(smtp.to("dur@corp.example")) == 1, timeout=15)
        finally:
            smtp.stop()
    finally:
        server.stop()
