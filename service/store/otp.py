"""RedisOtpStore: one live passcode per user, as a keyed MAC with an attempt counter."""

from __future__ import annotations

import math

from service.store import keys
from service.store.redis import Redis

# Attempts are counted before the code is compared, and the code is void once they reach the
# cap, so parallel guesses cannot outrun the counter. (Lua's == on MACs is not constant-time;
# an attacker controls only the MAC's input, so its timing reveals nothing about the code.)
_CHECK = """
local mac = redis.call('HGET', KEYS[1], 'mac')
if not mac then return 0 end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 0
end
if mac == ARGV[1] then return 1 end
attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
return 0
"""

_PUT = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'mac', ARGV[1], 'attempts', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_CONSUME = """
if redis.call('HGET', KEYS[1], 'mac') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisOtpStore:
    """OtpStore on Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._check = redis.register_script(_CHECK)
        self._consume = redis.register_script(_CONSUME)
        self._put = redis.register_script(_PUT)

    async def put(self, user_id: str, mac: str, ttl: float) -> None:
        # A new code replaces the live one, attempts and all.
        await self._put(keys=[keys.otp(user_id)], args=[mac, math.ceil(ttl * 1000)])

    async def check(self, user_id: str, mac: str, max_attempts: int) -> bool:
        return bool(await self._check(keys=[keys.otp(user_id)], args=[mac, max_attempts]))

    async def consume(self, user_id: str, mac: str) -> bool:
        return bool(await self._consume(keys=[keys.otp(user_id)], args=[mac]))
