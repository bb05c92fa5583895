"""Soak: mixed traffic against two replicas for a while. `python -m bench.soak [--minutes 10]`.

Starts its own redis-server, an aiosmtpd sink and two `serve` processes on loopback; runs
logins, authchecks, OTP flows and logouts from concurrent clients; reports total requests,
5xx responses (target 0), p99 latency, and each replica's memory (RSS) at start and end
(target: no growth beyond 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import RecordingSmtp, ServeProcess, start_redis  # noqa: E402

PASSWORD = "Soak-Password-2026!"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def client(
    urls: list[str], users: int, stop_at: float, latencies: list[float], statuses: dict[int, int]
) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:

        async def call(method: str, path: str, **kw: object) -> tuple[int, object]:
            url = random.choice(urls) + path
            start = time.perf_counter()
            async with http.request(method, url, **kw) as resp:  # type: ignore[arg-type]
                body = await resp.json(content_type=None) if resp.status != 204 else None
            latencies.append(time.perf_counter() - start)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            return resp.status, body

        while time.monotonic() < stop_at:
            email = f"soak{random.randrange(users)}@soak.example"
            status, body = await call(
                "POST", "/api/v2/users/login", json={"email": email, "password": PASSWORD}
            )
            if status != 201 or not isinstance(body, dict):
                continue
            headers = {"Coder-Session-Token": body["session_token"]}
            checks = {
                "checks": {
                    str(i): {"action": "read", "object": {"resource_type": t}}
                    for i, t in enumerate(["user", "workspace", "template"])
                }
            }
            for _ in range(20):
                await call("POST", "/api/v2/authcheck", json=checks, headers=headers)
            if random.random() < 0.1:
                await call("POST", "/api/v2/users/otp/request", json={"email": email})
                await call(
                    "POST",
                    "/api/v2/users/otp/change-password",
                    json={
                        "email": email,
                        "one_time_passcode": "00000000-0000-4000-8000-000000000000",
                        "password": "Another-Password-77!",
                    },
                )
            await call("POST", "/api/v2/users/logout", headers=headers)


async def run(minutes: float, concurrency: int) -> None:
    redis = start_redis()
    smtp = RecordingSmtp().start()
    env = {
        "AUTHSVC_REDIS_URL": redis.url,
        "AUTHSVC_SECRET_KEY": "soak-secret-key-0123456789",
        "AUTHSVC_DEV_MAIL_TO_LOG": "true",
        "AUTHSVC_SMTP_HOST": "127.0.0.1",
        "AUTHSVC_SMTP_PORT": str(smtp.port),
        "AUTHSVC_API_RATE_LIMIT": "-1",
        "AUTHSVC_LOGIN_RATE_LIMIT": "-1",
        "AUTHSVC_LOGIN_FAILURE_LIMIT": "-1",
        "AUTHSVC_OTP_REQUEST_LIMIT": "-1",
        "AUTHSVC_ARGON2_MEMORY_COST": "4096",
        "AUTHSVC_ARGON2_TIME_COST": "1",
        "AUTHSVC_LOG_LEVEL": "WARNING",
    }
    replicas = [ServeProcess(env), ServeProcess(env)]
    try:
        urls = [r.url for r in replicas]
        async with aiohttp.ClientSession() as http:
            await http.post(
                urls[0] + "/api/v2/users/first",
                json={
                    "email": "soak-admin@soak.example",
                    "username": "soakadmin",
                    "password": PASSWORD,
                },
            )
        from service.auth.passwords import PasswordHasher
        from service.auth.users import NewUser, UserDirectory
        from service.store.redis import connect
        from service.store.users import RedisUserStore

        store = connect(redis.url, 5)
        hashed = PasswordHasher(4096, 1, 1).hash(PASSWORD)
        directory = UserDirectory(RedisUserStore(store), time.time)
        for i in range(50):
            await directory.create(NewUser(f"soak{i}@soak.example", f"soak{i}", hashed))
        await store.aclose()
        # Warm up, then take the starting memory.
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        await asyncio.gather(*[client(urls, 50, time.monotonic() + 10, [], {}) for _ in range(4)])
        start_rss = [rss_mib(r.process.pid) for r in replicas]
        stop_at = time.monotonic() + minutes * 60
        await asyncio.gather(
            *[client(urls, 50, stop_at, latencies, statuses) for _ in range(concurrency)]
        )
        end_rss = [rss_mib(r.process.pid) for r in replicas]
        total = sum(statuses.values())
        errors = sum(n for s, n in statuses.items() if s >= 500)
        p99 = statistics.quantiles(latencies, n=100)[98] * 1000
        print(f"soak: {minutes:g} min, {concurrency} clients, 2 replicas")
        print(f"  requests       {total}")
        print(f"  5xx responses  {errors} (target 0)")
        print(f"  statuses       {dict(sorted(statuses.items()))}")
        print(f"  p99            {p99:.1f} ms")
        for i, (a, b) in enumerate(zip(start_rss, end_rss, strict=True)):
            print(
                f"  replica {i + 1} RSS  {a:.1f} MiB -> {b:.1f} MiB ({(b / a - 1) * 100:+.1f}%, "
                "target <= +10%)"
            )
    finally:
        for r in replicas:
            r.stop()
        smtp.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.minutes, args.clients))


if __name__ == "__main__":
    main()
