"""RedisOneTimeStore: short-lived records that can be taken exactly once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

from service.store import keys
from service.store.redis import Redis

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

    async def put(self, kind: str, state: str, record: Mapping[str, str], ttl: float) -> None:
        key = keys.one_time(kind, state)
        fields: dict[Any, Any] = dict(record) or {"_": ""}  # a hash cannot be empty
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, math.ceil(ttl * 1000))
            await pipe.execute()

    async def take(self, kind: str, state: str) -> dict[str, str] | None:
        flat = cast(list[str], await self._take(keys=[keys.one_time(kind, state)]))
        if not flat:
            return None
        return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2) if flat[i] != "_"}
