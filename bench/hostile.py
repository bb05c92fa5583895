"""Hostile bodies: `python -m bench.hostile [--seconds 10] [--clients 4]`.

Starts its own redis-server and one `serve` process on loopback, then measures:

1. CPU per request of the service process for each anonymous endpoint and each of the worst
   bodies of tests/security/hostile.py at the public body limit (the figure quoted in the
   README): the process's CPU time over N identical requests, divided by N;
2. how long `GET /healthz` waits at rest, and while --clients clients send those bodies as
   fast as the service answers them; printed as p50/p99/max and as the ratio of the p99s
   (the same process, the same run, so the ratio is what counts).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.__main__ import cpu_seconds  # noqa: E402
from tests.security.hostile import ANONYMOUS, hostile_bodies  # noqa: E402
from tests.support import ServeProcess, start_redis  # noqa: E402

PUBLIC_LIMIT = 4096
REPEATS = 30


async def _cpu_per_request(
    session: aiohttp.ClientSession, url: str, pid: int, body: bytes
) -> tuple[float, int]:
    headers = {"Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as resp:  # warm-up
        await resp.read()
    before = cpu_seconds([pid])
    status = 0
    for _ in range(REPEATS):
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            status = resp.status
    return (cpu_seconds([pid]) - before) / REPEATS, status


async def _healthz_latencies(
    session: aiohttp.ClientSession, base: str, seconds: float
) -> list[float]:
    waits: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.get(f"{base}/healthz") as resp:
            await resp.read()
        waits.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return waits


async def _hostile_client(
    session: aiohttp.ClientSession, base: str, stop: asyncio.Event, sent: list[int]
) -> None:
    bodies = [
        (path, body) for path, template in ANONYMOUS for _, body in hostile_bodies(template, 4096)
    ]
    i = 0
    while not stop.is_set():
        path, body = bodies[i % len(bodies)]
        async with session.post(
            base + path, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            await resp.read()
        sent[0] += 1
        i += 1


def _summary(waits: list[float]) -> str:
    q = statistics.quantiles(waits, n=100)
    return (
        f"p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(waits):.2f} ms ({len(waits)} requests)"
    )


async def run(seconds: float, clients: int) -> None:
    redis = start_redis()
    server = ServeProcess(
        {
            "AUTHSVC_REDIS_URL": redis.url,
            "AUTHSVC_SECRET_KEY": "hostile-bench-secret-7d3e9a",
            "AUTHSVC_DEV_MAIL_TO_LOG": "true",
            "AUTHSVC_VALIDATE_PASSWORD_ANONYMOUS": "true",
            # The measurement sends far more than the limits allow from one address.
            "AUTHSVC_API_RATE_LIMIT": "-1",
            "AUTHSVC_LOGIN_RATE_LIMIT": "-1",
            "AUTHSVC_LOGIN_FAILURE_LIMIT": "-1",
            "AUTHSVC_LOGIN_ACCOUNT_FAILURE_LIMIT": "-1",
            "AUTHSVC_OTP_REQUEST_LIMIT": "-1",
            "AUTHSVC_OTP_ADDRESS_LIMIT": "-1",
            "AUTHSVC_OTP_MAX_ATTEMPTS": "1000000",
            "AUTHSVC_LOG_LEVEL": "WARNING",
        }
    )
    pid = server.process.pid
    try:
        async with aiohttp.ClientSession() as session:
            print(f"CPU per request, worst bodies at the public limit ({PUBLIC_LIMIT} bytes):")
            for path, template in ANONYMOUS:
                worst = (0.0, "", 0)
                for what, body in hostile_bodies(template, PUBLIC_LIMIT):
                    cpu, status = await _cpu_per_request(session, server.url + path, pid, body)
                    worst = max(worst, (cpu, what, status))
                print(f"  {path:<36} worst {worst[0] * 1000:6.2f} ms ({worst[1]}, HTTP {worst[2]})")
            at_rest = await _healthz_latencies(session, server.url, seconds)
            stop = asyncio.Event()
            sent = [0]
            attackers = [
                asyncio.create_task(_hostile_client(session, server.url, stop, sent))
                for _ in range(clients)
            ]
            under_attack = await _healthz_latencies(session, server.url, seconds)
            stop.set()
            await asyncio.gather(*attackers)
        print(f"/healthz at rest:          {_summary(at_rest)}")
        print(
            f"/healthz under {clients} hostile clients: {_summary(under_attack)}; "
            f"{sent[0] / seconds:.0f} hostile requests/s answered"
        )
        ratio = (
            statistics.quantiles(under_attack, n=100)[98] / statistics.quantiles(at_rest, n=100)[98]
        )
        print(f"p99 under attack / at rest: {ratio:.2f}")
    finally:
        server.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.clients))


if __name__ == "__main__":
    main()
