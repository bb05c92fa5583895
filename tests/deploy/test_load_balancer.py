"""Two authsvc processes behind a real nginx, one Redis and an aiosmtpd sink, on loopback.

Through the load balancer: sessions, passcodes, the per-IP login limit and policy reloads are
shared by the replicas; killing one under steady load loses nothing beyond its in-flight
requests; SIGTERM drains a replica cleanly.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import ROOT
from tests.support import (
    STRONG,
    Nginx,
    RecordingSmtp,
    RedisServer,
    ServeProcess,
    start_redis,
    wait_until,
)


@dataclass
class Stack:
    redis: RedisServer
    smtp: RecordingSmtp
    config: Path
    replicas: list[ServeProcess]
    nginx: Nginx
    http: aiohttp.ClientSession

    async def call(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, url, **kwargs) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, await resp.text()  # nginx's own HTML error pages


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    redis = start_redis(None, "--appendonly", "yes", "--appendfsync", "always")  # as compose
    smtp = RecordingSmtp().start()
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    # The replicas' environment as docker-compose.yml gives it, with only the addresses of
    # the other services (and the secret the operator supplies) replaced for loopback.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {k: str(v) for k, v in compose["services"]["authsvc-1"]["environment"].items()}
    env.update(
        {
            "AUTHSVC_REDIS_URL": redis.url,
            "AUTHSVC_SECRET_KEY": "load-balancer-test-secret-0123",
            "AUTHSVC_SMTP_HOST": "127.0.0.1",
            "AUTHSVC_SMTP_PORT": str(smtp.port),
            "AUTHSVC_TRUSTED_PROXIES": "127.0.0.1/32",  # nginx's address here
            "AUTHSVC_CONFIG_DIR": str(config),  # the volume ./config:/etc/authsvc
            "AUTHSVC_HOST": "127.0.0.1",
            # Test knobs: a login limit the test can reach, no API limit for the kill test
            # (more than 512 requests a minute from one address), cheap hashing.
            "AUTHSVC_LOGIN_RATE_LIMIT": "12",
            "AUTHSVC_LOGIN_FAILURE_LIMIT": "-1",
            "AUTHSVC_API_RATE_LIMIT": "-1",
            "AUTHSVC_REDIS_TIMEOUT": "1",
            "AUTHSVC_ARGON2_MEMORY_COST": "1024",
            "AUTHSVC_ARGON2_TIME_COST": "1",
        }
    )
    replicas: list[ServeProcess] = []
    nginx = None
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    stack: Stack | None = None
    try:
        replicas = [ServeProcess(env), ServeProcess(env)]
        nginx = Nginx([r.port for r in replicas])
        stack = Stack(redis, smtp, config, replicas, nginx, http)
        yield stack
    finally:
        await http.close()
        if nginx is not None:
            nginx.stop()
        for replica in replicas:
            replica.stop()
        smtp.stop()
        redis.stop()
        if stack is not None and stack.redis is not redis:
            stack.redis.stop()  # a test restarted Redis: stop the one running now


async def first_user(stack: Stack) -> str:
    status, _ = await stack.call(
        "POST",
        f"{stack.nginx.url}/api/v2/users/first",
        json={"email": "root@lb.example", "username": "root", "password": STRONG},
    )
    assert status == 201
    status, body = await stack.call(
        "POST",
        f"{stack.replicas[0].url}/api/v2/users/login",
        json={"email": "root@lb.example", "password": STRONG},
    )
    assert status == 201
    return str(body["session_token"])


async def test_shared_state_through_the_load_balancer(stack: Stack) -> None:
    """Sessions, passcodes, the login limit and policy reloads reach every replica."""
    a, b = stack.replicas
    token = await first_user(stack)
    headers = {"Coder-Session-Token": token}
    # A session made on replica A works on B, and through nginx on whichever answers.
    assert (await stack.call("GET", f"{b.url}/api/v2/users/me", headers=headers))[0] == 200
    for _ in range(4):
        assert (await stack.call("GET", f"{stack.nginx.url}/api/v2/users/me", headers=headers))[
            0
        ] == 200

    # A code requested on A is redeemed on B.
    assert (
        await stack.call(
            "POST", f"{a.url}/api/v2/users/otp/request", json={"email": "root@lb.example"}
        )
    )[0] == 204
    await wait_until(lambda: len(stack.smtp.messages) == 1)
    text = stack.smtp.messages[0].get_body(preferencelist=("plain",)).get_content()
    code = re.search(r"passcode: (\S+)", text)
    assert code
    status, _ = await stack.call(
        "POST",
        f"{b.url}/api/v2/users/otp/change-password",
        json={
            "email": "root@lb.example",
            "one_time_passcode": code.group(1),
            "password": "New-Secret-123!",
        },
    )
    assert status == 204

    # The per-IP login limit (12/min here) counts requests landing on both replicas.
    statuses = []
    for _ in range(13):
        status, _ = await stack.call(
            "POST",
            f"{stack.nginx.url}/api/v2/users/login",
            json={"email": "x@lb.example", "password": "p"},
        )
        statuses.append(status)
    assert statuses.count(401) == 12 - 1 and statuses[-1] == 429  # one login above was direct to A

    # A policy reload (SIGHUP to each replica, as an operator would) reaches both.
    before = a.version()
    roles = stack.config / "roles.yaml"
    roles.write_text(roles.read_text() + "  - {name: lb-role, kind: site, site: [license:read]}\n")
    for replica in stack.replicas:
        replica.process.send_signal(signal.SIGHUP)
    after = a.wait_version(before)
    assert after != before
    assert b.wait_version(before) == after


async def test_killing_a_replica_under_load(stack: Stack) -> None:
    """SIGKILL one replica under steady load: only its in-flight requests may fail."""
    token = await first_user(stack)
    headers = {"Coder-Session-Token": token}
    body = {
        "checks": {"x": {"action": "read", "object": {"resource_type": "user", "owner_id": "me"}}}
    }
    results: list[int] = []
    stop_at = time.monotonic() + 4

    async def worker() -> None:
        while time.monotonic() < stop_at:
            try:
                status, _ = await stack.call(
                    "POST", f"{stack.nginx.url}/api/v2/authcheck", json=body, headers=headers
                )
            except aiohttp.ClientError:
                status = 0
            results.append(status)

    concurrency = 4
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(1.5)
    stack.replicas[0].process.kill()
    await asyncio.gather(*tasks)
    failed = [s for s in results if s != 200]
    assert len(results) > 100
    assert len(failed) <= concurrency, failed
    # The survivor keeps serving.
    assert (await stack.call("GET", f"{stack.nginx.url}/api/v2/users/me", headers=headers))[
        0
    ] == 200


async def test_sigterm_drains_cleanly(stack: Stack) -> None:
    """Requests in flight when SIGTERM arrives are answered; the process exits 0."""
    await first_user(stack)
    b = stack.replicas[1]

    async def login() -> int:
        status, _ = await stack.call(
            "POST",
            f"{b.url}/api/v2/users/login",
            json={"email": "root@lb.example", "password": STRONG},
        )
        return status

    tasks = [asyncio.create_task(login()) for _ in range(8)]
    await asyncio.sleep(0.02)
    b.process.send_signal(signal.SIGTERM)
    statuses = await asyncio.gather(*tasks, return_exceptions=True)
    answered = [s for s in statuses if isinstance(s, int)]
    # Requests that reached the server before the signal got full answers; later ones were
    # refused at connect (the listener closes first) - never a reset mid-request.
    assert answered and all(s in (201, 429) for s in answered), statuses
    assert all(isinstance(s, int | aiohttp.ClientConnectorError) for s in statuses)
    assert await asyncio.to_thread(b.process.wait, 20) == 0
    logs = b.stop()
    assert "Traceback" not in logs


async def test_redis_outage_reaches_clients_as_json(stack: Stack) -> None:
    """Redis stopped: every client gets the replicas' JSON 503 with Retry-After through nginx
    (never nginx's HTML 502); Redis back with AOF: the service answers again within seconds
    and the session made before the outage still works."""
    token = await first_user(stack)
    headers = {"Coder-Session-Token": token}
    me = f"{stack.nginx.url}/api/v2/users/me"
    port, workdir = stack.redis.port, stack.redis.workdir
    stack.redis.stop(keep_data=True)
    for _ in range(6):  # several rounds over both replicas: none is marked down
        async with stack.http.post(
            f"{stack.nginx.url}/api/v2/users/login",
            json={"email": "root@lb.example", "password": STRONG},
        ) as resp:
            assert resp.status == 503, await resp.text()
            assert resp.headers["Retry-After"] == "1"
            assert resp.content_type == "application/json"
            assert (await resp.json())["message"] == "The service is temporarily unavailable."
    stack.redis = start_redis(port, "--appendonly", "yes", workdir=workdir)
    deadline = time.monotonic() + 15
    while True:
        status, body = await stack.call("GET", me, headers=headers)
        if status == 200:
            break
        assert time.monotonic() < deadline, (status, body)
        await asyncio.sleep(0.2)
    assert body["email"] == "root@lb.example"


async def test_public_port_hides_metrics_and_answers_413_as_json(stack: Stack) -> None:
    """/metrics is refused on the public listener (each replica still serves it); a body
    past nginx's limit gets the service's JSON envelope, not an HTML page."""
    status, body = await stack.call("GET", f"{stack.nginx.url}/metrics")
    assert (status, body) == (404, {"message": "Route not found."})
    async with stack.http.get(f"{stack.replicas[0].url}/metrics") as resp:
        assert resp.status == 200 and "authsvc_http_requests_total" in await resp.text()
    status, body = await stack.call(
        "POST", f"{stack.nginx.url}/api/v2/users/login", data=b"x" * (2 * 1024 * 1024)
    )
    assert status == 413
    assert body["message"] == "Request body must be valid JSON."
