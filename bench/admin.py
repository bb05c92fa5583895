"""Administration reads at scale: `python -m bench.admin [--users 10000] [--requests 200]`.

Starts its own redis-server and one `serve` process on loopback, seeds --users users in the
default organization straight into Redis, and measures, one request at a time as an owner,
the latency and the service's CPU per request of:

  GET /users/me                          the baseline (authentication and one record)
  GET /users?limit=25                    the first page of every user
  GET /users?q=<a username>              a search
  GET /users/{id}                        one user
  GET /organizations/default/members/{id}  one member
  GET /organizations/default/members     every member of the default organization

Listing reads every user record (one pipelined round trip per 512 records) and filters them by
the caller's permissions in the process, so its cost grows with the number of users; the
ratios against the baseline say by how much.
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
from tests.support import ServeProcess, start_redis  # noqa: E402

SECRET = "benchmark-secret-key-0123456789"
PASSWORD = "Bench-Password-2026!"


async def seed(redis_url: str, count: int) -> None:
    from service.auth.users import NewUser, UserDirectory
    from service.store.redis import connect
    from service.store.users import RedisUserStore

    client = connect(redis_url, timeout=10)
    try:
        directory = UserDirectory(RedisUserStore(client), time.time)
        for start in range(0, count, 50):
            await asyncio.gather(
                *(
                    directory.create(NewUser(email=f"u{i}@bench.example", username=f"u{i}"))
                    for i in range(start, min(start + 50, count))
                )
            )
    finally:
        await client.aclose()


async def measure(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], pid: int, n: int
) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, CPU µs per request) over n sequential requests."""
    async with session.get(url, headers=headers) as resp:  # warm-up
        assert resp.status == 200, await resp.text()
    times = []
    before = cpu_seconds([pid])
    for _ in range(n):
        start = time.perf_counter()
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200
        times.append((time.perf_counter() - start) * 1000)
    cpu = (cpu_seconds([pid]) - before) / n * 1e6
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1], cpu


async def run(users: int, requests: int) -> None:
    redis = start_redis()
    server: ServeProcess | None = None
    try:
        server = ServeProcess(
            {
                "AUTHSVC_REDIS_URL": redis.url,
                "AUTHSVC_SECRET_KEY": SECRET,
                "AUTHSVC_DEV_MAIL_TO_LOG": "true",
                "AUTHSVC_API_RATE_LIMIT": "-1",
                "AUTHSVC_LOGIN_RATE_LIMIT": "-1",
            }
        )
        base = server.url + "/api/v2"
        async with aiohttp.ClientSession() as session:
            first = {"email": "owner@bench.example", "username": "owner", "password": PASSWORD}
            async with session.post(f"{base}/users/first", json=first) as resp:
                assert resp.status == 201, await resp.text()
            login = {"email": first["email"], "password": PASSWORD}
            async with session.post(f"{base}/users/login", json=login) as resp:
                token = (await resp.json())["session_token"]
            session.cookie_jar.clear()
            print(f"seeding {users} users ...", flush=True)
            await seed(redis.url, users)
            headers = {"Coder-Session-Token": token}
            async with session.get(f"{base}/users?q=u{users // 2}", headers=headers) as resp:
                some_id = (await resp.json())["users"][0]["id"]
            scenarios = {
                "GET /users/me (baseline)": f"{base}/users/me",
                "GET /users?limit=25": f"{base}/users?limit=25",
                f"GET /users?q=u{users // 2}": f"{base}/users?q=u{users // 2}",
                "GET /users/{id}": f"{base}/users/{some_id}",
                "GET /organizations/default/members/{id}": (
                    f"{base}/organizations/default/members/{some_id}"
                ),
                "GET /organizations/default/members": f"{base}/organizations/default/members",
            }
            results = {}
            for name, url in scenarios.items():
                n = requests if not name.endswith("/members") else max(10, requests // 10)
                results[name] = await measure(session, url, headers, server.process.pid, n)
        baseline = results["GET /users/me (baseline)"]
        print(f"\n{users} users; one request at a time, as an owner\n")
        print(f"  {'request':<40} {'p50 ms':>8} {'p99 ms':>8} {'cpu µs':>9} {'÷ baseline':>11}")
        for name, (p50, p99, cpu) in results.items():
            print(f"  {name:<40} {p50:8.2f} {p99:8.2f} {cpu:9.0f} {cpu / baseline[2]:10.1f}x")
    finally:
        if server is not None:
            server.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.users, args.requests))


if __name__ == "__main__":
    main()
