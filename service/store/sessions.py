"""RedisSessionStore: one hash per session with a TTL equal to its expiry."""

from __future__ import annotations

import math
from typing import cast

from service.auth.sessions import Session
from service.store import keys
from service.store.redis import Redis

# Scripts, not MULTI: atomic on standalone, Sentinel and Cluster alike (one key each).
_INDEX = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_PUT = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
"""

_EXTEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'expires_at', ARGV[1], 'last_used', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 1
"""


def _expire_at(ts: float) -> int:
    return math.ceil(ts)


class RedisSessionStore:
    """SessionStore on Redis, plus a per-user index so that all of a user's sessions can go."""

    def __init__(self, redis: Redis, max_lifetime: float) -> None:
        self._redis = redis
        self._index_ttl = math.ceil(max_lifetime) + 60
        self._extend = redis.register_script(_EXTEND)
        self._index = redis.register_script(_INDEX)
        self._put = redis.register_script(_PUT)

    async def put(self, session: Session) -> None:
        # Index first: a session that exists is always reachable from its user's index.
        await self._index(
            keys=[keys.user_sessions(session.user_id)], args=[session.id, self._index_ttl]
        )
        await self._put(
            keys=[keys.session(session.id)],
            args=[
                _expire_at(session.expires_at),
                "user_id",
                session.user_id,
                "hashed_secret",
                session.hashed_secret,
                "created_at",
                repr(session.created_at),
                "expires_at",
                repr(session.expires_at),
                "last_used",
                repr(session.last_used),
                "lifetime",
                repr(session.lifetime),
                "login_type",
                session.login_type,
                "ip",
                session.ip,
                "scope",
                session.scope,
            ],
        )

    async def get(self, key_id: str) -> Session | None:
        raw = cast(dict[str, str], await self._redis.hgetall(keys.session(key_id)))
        if not raw or "hashed_secret" not in raw:
            return None
        return Session(
            id=key_id,
            user_id=raw["user_id"],
            hashed_secret=raw["hashed_secret"],
            created_at=float(raw["created_at"]),
            expires_at=float(raw["expires_at"]),
            last_used=float(raw["last_used"]),
            lifetime=float(raw["lifetime"]),
            login_type=raw["login_type"],
            ip=raw["ip"],
            scope=raw.get("scope", "coder:all"),
        )

    async def extend(self, key_id: str, expires_at: float, last_used: float) -> None:
        # Only if it still exists: never resurrect a session deleted meanwhile (logout on
        # another replica, a password reset).
        await self._extend(
            keys=[keys.session(key_id)],
            args=[repr(expires_at), repr(last_used), str(_expire_at(expires_at))],
        )

    async def delete(self, key_id: str, user_id: str) -> None:
        await self._redis.delete(keys.session(key_id))
        await self._redis.srem(keys.user_sessions(user_id), key_id)

    async def delete_all(self, user_id: str) -> None:
        index = keys.user_sessions(user_id)
        ids = cast(set[str], await self._redis.smembers(index))
        for key_id in ids:
            await self._redis.delete(keys.session(key_id))
        if ids:
            await self._redis.srem(index, *ids)
