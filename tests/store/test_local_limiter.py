"""The API rate limit decided in the process (LocalFirstLimiter) against a real Redis: exact
on one replica, a bounded overshoot across replicas, recovery after the window, and local
decisions through an outage."""

from __future__ import annotations

import asyncio
import time

from service.auth.ratelimit import LocalFirstLimiter
from service.store.ratelimit import RedisRateLimiter
from service.store.redis import connect


async def _allowed(limiter: LocalFirstLimiter, n: int, limit: int, window: float = 60) -> int:
    count = 0
    for _ in range(n):
        decision = await limiter.hit("ip|t", "api", limit, window)
        count += decision.allowed
    return count


async def test_one_replica_is_exact(redis_url: str) -> None:
    """On one replica the limit holds exactly: `limit` requests pass, the next are refused
    with the limit and a reset, and the shared log holds what passed."""
    redis = connect(redis_url, 2)
    try:
        shared = RedisRateLimiter(redis, time.time)
        limiter = LocalFirstLimiter(shared, interval=0.05)
        assert await _allowed(limiter, 30, 20) == 20
        refused = await limiter.hit("ip|t", "api", 20, 60)
        assert (refused.allowed, refused.limit, refused.remaining) == (False, 20, 0)
        assert 0 < refused.reset_after <= 60
        await limiter.close()
        assert (await shared.add("ip|t", "api", 0, 60))[0] == 20
    finally:
        await redis.aclose()


async def test_replicas_share_the_limit_with_a_bounded_overshoot(redis_url: str) -> None:
    """Two replicas together let through at most the limit plus what each may overshoot
    before its next sync (a tenth of the limit each here), then refuse."""
    redis = connect(redis_url, 2)
    try:
        shared = RedisRateLimiter(redis, time.time)
        a = LocalFirstLimiter(shared, interval=0.05)
        b = LocalFirstLimiter(shared, interval=0.05)
        passed = 0
        for _ in range(10):
            passed += await _allowed(a, 20, 100)
            passed += await _allowed(b, 20, 100)
            await asyncio.sleep(0.06)
        assert 100 <= passed <= 100 + 2 * 10
        assert await _allowed(a, 5, 100) == 0 and await _allowed(b, 5, 100) == 0
        await a.close()
        await b.close()
    finally:
        await redis.aclose()


async def test_recovers_after_the_window(redis_url: str) -> None:
    """Once the window has passed, a refused client is let through again."""
    redis = connect(redis_url, 2)
    try:
        limiter = LocalFirstLimiter(RedisRateLimiter(redis, time.time), interval=0.05)
        assert await _allowed(limiter, 5, 3, window=1.0) == 3
        await asyncio.sleep(1.1)
        assert await _allowed(limiter, 1, 3, window=1.0) == 1
        await limiter.close()
    finally:
        await redis.aclose()


async def test_outage_keeps_deciding_locally() -> None:
    """With the store unreachable, requests are still decided (locally, never an error) and
    the limit still holds in the process."""
    redis = connect("redis://127.0.0.1:1/0", 0.2)  # nothing listens on port 1
    try:
        limiter = LocalFirstLimiter(RedisRateLimiter(redis, time.time), interval=0.01)
        assert await _allowed(limiter, 8, 5) == 5
        await limiter.close()
    finally:
        await redis.aclose()
