"""Does `otp/request` take the same time for a known and an unknown address?

    python -m bench.otp_timing [--requests 200]

Starts its own redis-server on a free loopback port and the service in-process, sends
interleaved rounds of requests for a known and an unknown address, and prints both medians and
their ratio (the requirement: within 10%). The baseline is the unknown address itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from service import keys
from service.app import create_app
from service.auth.users import NewUser
from service.settings import Settings
from tests.support import start_redis

CONFIG = Path(__file__).resolve().parent.parent / "config"


async def run(requests: int) -> None:
    server = start_redis()
    try:
        settings = Settings(
            redis_url=server.url,
            secret_key="bench-secret-key-0123456789",
            config_dir=CONFIG,
            login_rate_limit=-1,
            api_rate_limit=-1,
            otp_request_limit=-1,
            dev_mail_to_log=True,
        )
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        try:
            app = client.app
            await app[keys.DIRECTORY].create(NewUser("known@bench.example", "known", ""))
            samples: dict[str, list[float]] = {"known": [], "unknown": []}
            emails = {"known": "known@bench.example", "unknown": "nobody@bench.example"}
            for i in range(requests * 2):
                which = "known" if i % 2 == 0 else "unknown"
                start = time.perf_counter()
                resp = await client.post("/api/v2/users/otp/request", json={"email": emails[which]})
                samples[which].append(time.perf_counter() - start)
                assert resp.status == 204
            known = statistics.median(samples["known"]) * 1000
            unknown = statistics.median(samples["unknown"]) * 1000
            print(f"otp/request over {requests} requests each (interleaved):")
            print(f"  known address   median {known:.3f} ms")
            print(f"  unknown address median {unknown:.3f} ms (baseline)")
            apart = abs(known / unknown - 1) * 100
            print(f"  ratio known/unknown: {known / unknown:.3f} ({apart:.1f}% apart)")
        finally:
            await client.close()
    finally:
        server.stop()


def main() -> None:
    logging.disable(logging.WARNING)  # the embedded console mailer would print every mail
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
