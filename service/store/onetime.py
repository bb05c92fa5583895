"""RedisOneTimeStore: short-lived records that can be taken exactly once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

from service.store import keys
from service.store.redis import Redis

# A record is never overwritten: a state someone else chose cannot replace a live flow.
_PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

_TAKE = """
local record = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return record
"""


class RedisOneTimeStore:
    """OAuth flow states and conversion states (OneTimeStore)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self._put = redis.register_script(_PUT)

    async def put(self, kind: str, state: str, record: Mapping[str, str], ttl: float) -> bool:
        fields = dict(record) or {"_": ""}  # a hash cannot be empty
        flat = [item for pair in fields.items() for item in pair]
        created = await self._put(
            keys=[keys.one_time(kind, state)], args=[math.ceil(ttl * 1000), *flat]
        )
        return bool(created)

    async def exists(self, kind: str, state: str) -> bool:
        return bool(await self._redis.exists(keys.one_time(kind, state)))

    async def take(self, kind: str, state: str) -> dict[str, str] | None:
        flat = cast(list[str], await self._take(keys=[keys.one_time(kind, state)]))
        if not flat:
            return None
        return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2) if flat[i] != "_"}
