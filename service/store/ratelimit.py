"""RedisRateLimiter: exact sliding-log limits, one atomic script per request."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from service.auth.ratelimit import RateDecision
from service.clock import Clock
from service.store import keys
from service.store.redis import Redis

# KEYS: one sorted set per limit (same hash tag). ARGV: now_ms, window_ms, record, member,
# then one limit per key. Refused requests are not recorded.
_HIT = """
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local best_remaining = -1
local best_limit = 0
local best_reset = win
local counts = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[4 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - win)
  local n = redis.call('ZCARD', key)
  local reset = win
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if oldest[2] then reset = tonumber(oldest[2]) + win - now end
  if n >= limit then
    return {0, limit, 0, reset}
  end
  local remaining = limit - n
  if ARGV[3] == '1' then remaining = remaining - 1 end
  if best_remaining < 0 or remaining < best_remaining then
    best_remaining = remaining
    best_limit = limit
    best_reset = reset
  end
end
if ARGV[3] == '1' then
  for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[4])
    redis.call('PEXPIRE', key, win)
  end
end
return {1, best_limit, best_remaining, best_reset}
"""


# Add ARGV[3] requests at ARGV[1] (members ARGV[4]-1..n) to one sliding log; answer the count
# in the window and the ms until its oldest entry leaves it.
_ADD = """
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
for i = 1, n do redis.call('ZADD', KEYS[1], now, ARGV[4] .. '-' .. i) end
if n > 0 then redis.call('PEXPIRE', KEYS[1], win) end
local count = redis.call('ZCARD', KEYS[1])
local reset = win
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + win - now end
return {count, reset}
"""


class RedisRateLimiter:
    """RateLimiter on Redis sorted sets, shared by every replica."""

    def __init__(self, redis: Redis, clock: Clock) -> None:
        self._clock = clock
        self._hit = redis.register_script(_HIT)
        self._add = redis.register_script(_ADD)

    async def add(self, tag: str, name: str, count: int, window: float) -> tuple[int, float]:
        """Record `count` requests now in one limit's log (the same log `hit` keeps); (the
        requests in the window, seconds until the oldest leaves it)."""
        now_ms = int(self._clock() * 1000)
        total, reset_ms = await self._add(
            keys=[keys.rate_counter(tag, name)],
            args=[now_ms, int(window * 1000), count, f"{now_ms}-{secrets.token_hex(6)}"],
        )
        return int(total), int(reset_ms) / 1000

    async def hit(
        self,
        tag: str,
        limits: Sequence[tuple[str, int]],
        window: float,
        *,
        record: bool = True,
    ) -> RateDecision:
        active = [(name, limit) for name, limit in limits if limit >= 0]
        if not active:
            return RateDecision(True, -1, -1, 0.0)
        now_ms = int(self._clock() * 1000)
        win_ms = int(window * 1000)
        allowed, limit, remaining, reset_ms = await self._hit(
            keys=[keys.rate_counter(tag, name) for name, _ in active],
            args=[
                now_ms,
                win_ms,
                "1" if record else "0",
                f"{now_ms}-{secrets.token_hex(6)}",
                *[limit for _, limit in active],
            ],
        )
        return RateDecision(bool(allowed), int(limit), int(remaining), int(reset_ms) / 1000)
