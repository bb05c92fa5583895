"""RedisOtpStore: the live passcodes of a user, as keyed MACs, each with its own expiry.

One hash per user: field = a code's MAC, value = its expiry (ms). A user may hold several live
codes, so a reset someone else requests for the address never voids the one the owner was
mailed; a successful reset deletes them all. Wrong guesses are counted per client by the
service's rate limiter, not here, so they cannot void the owner's code either.
"""

from __future__ import annotations

import math

from service.clock import Clock
from service.store import keys
from service.store.redis import Redis

# KEYS[1]: the user's codes. ARGV: mac, expiry_ms, now_ms, max_live.
_PUT = """
local now = tonumber(ARGV[3])
local fields = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #fields, 2 do
  if tonumber(fields[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    table.insert(live, {fields[i], tonumber(fields[i + 1])})
  end
end
table.sort(live, function(a, b) return a[2] < b[2] end)
local excess = #live + 1 - tonumber(ARGV[4])
for i = 1, excess do redis.call('HDEL', KEYS[1], live[i][1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[2]) - now
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

# ARGV: mac, now_ms. (Lua's == on MACs is not constant-time; the caller controls only the
# MAC's input, so its timing reveals nothing about a code.)
_CHECK = """
local expires = redis.call('HGET', KEYS[1], ARGV[1])
if expires and tonumber(expires) > tonumber(ARGV[2]) then return 1 end
return 0
"""

_CONSUME = """
local expires = redis.call('HGET', KEYS[1], ARGV[1])
if expires and tonumber(expires) > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisOtpStore:
    """OtpStore on Redis."""

    def __init__(self, redis: Redis, clock: Clock) -> None:
        self._redis = redis
        self._clock = clock
        self._check = redis.register_script(_CHECK)
        self._consume = redis.register_script(_CONSUME)
        self._put = redis.register_script(_PUT)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def put(self, user_id: str, mac: str, ttl: float, max_live: int) -> None:
        now = self._now_ms()
        expires = now + math.ceil(ttl * 1000)
        await self._put(keys=[keys.otp(user_id)], args=[mac, expires, now, max_live])

    async def check(self, user_id: str, mac: str) -> bool:
        return bool(await self._check(keys=[keys.otp(user_id)], args=[mac, self._now_ms()]))

    async def consume(self, user_id: str, mac: str) -> bool:
        return bool(await self._consume(keys=[keys.otp(user_id)], args=[mac, self._now_ms()]))

    async def forget(self, user_id: str) -> None:
        """Drop every live code of the user (the user was deleted)."""
        await self._redis.delete(keys.otp(user_id))
