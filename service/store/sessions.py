"""RedisSessionStore: one string per session, kept until a day after its expiry."""

from __future__ import annotations

import base64
import math
from dataclasses import replace
from typing import cast

from service.auth.sessions import Session
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.redis import Redis

# Scripts, not MULTI: atomic on standalone, Sentinel and Cluster alike (one key each).
_INDEX = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_EXTEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
return 1
"""

# A session is one compact string (~150 bytes, not a 9-field hash): fields joined by "|",
# times in milliseconds (see _pack). Measured in bench/: bytes per live session.
_VERSION = "2"


def _pack(session: Session) -> str:
    digest = base64.urlsafe_b64encode(bytes.fromhex(session.hashed_secret)).decode().rstrip("=")
    return "|".join(
        (
            _VERSION,
            session.user_id,
            digest,
            # Milliseconds: whole seconds would make a session created just after a password
            # reset look older than the reset (and so revoked).
            str(int(session.created_at * 1000)),
            str(math.ceil(session.expires_at * 1000)),
            str(int(session.last_used * 1000)),
            str(int(session.lifetime)),
            session.login_type,
            session.ip,
            "" if session.scope == "coder:all" else session.scope,
        )
    )


def _unpack(key_id: str, value: str) -> Session | None:
    parts = value.split("|")
    if len(parts) != 10 or parts[0] != _VERSION:
        return None
    _, user_id, digest, created, expires, last_used, lifetime, login_type, ip, scope = parts
    raw = base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4))
    return Session(
        id=key_id,
        user_id=user_id,
        hashed_secret=raw.hex(),
        created_at=int(created) / 1000,
        expires_at=int(expires) / 1000,
        last_used=int(last_used) / 1000,
        lifetime=float(lifetime),
        login_type=login_type,
        ip=ip,
        scope=scope or "coder:all",
    )


# An expired session stays this long after its expiry, so that a client coming back gets
# Coder's `API key expired at "..."` rather than `API key is invalid.` (which a key that
# vanished at the instant it expired would give). It authenticates nothing in that time: the
# expiry is checked on every use.
EXPIRED_KEPT = 24 * 3600


def _expire_at(ts: float) -> int:
    return math.ceil(ts) + EXPIRED_KEPT


class RedisSessionStore:
    """SessionStore on Redis, plus a per-user index so that all of a user's sessions can go."""

    def __init__(
        self, redis: Redis, max_lifetime: float, changes: RedisChangeFeed | None = None
    ) -> None:
        self._redis = redis
        self._changes = changes
        self._index_ttl = math.ceil(max_lifetime) + EXPIRED_KEPT + 60
        self._extend = redis.register_script(_EXTEND)
        self._index = redis.register_script(_INDEX)

    async def put(self, session: Session) -> None:
        # Index first: a session that exists is always reachable from its user's index.
        await self._index(
            keys=[keys.user_sessions(session.user_id)], args=[session.id, self._index_ttl]
        )
        await self._redis.set(
            keys.session(session.id), _pack(session), exat=_expire_at(session.expires_at)
        )

    async def get(self, key_id: str) -> Session | None:
        value = cast(str | None, await self._redis.get(keys.session(key_id)))
        return _unpack(key_id, value) if value else None

    async def extend(self, key_id: str, expires_at: float, last_used: float) -> None:
        # Only if it still exists: never resurrect a session deleted meanwhile (logout on
        # another replica, a password reset).
        current = await self.get(key_id)
        if current is None:
            return
        moved = replace(current, expires_at=expires_at, last_used=last_used)
        await self._extend(keys=[keys.session(key_id)], args=[_pack(moved), _expire_at(expires_at)])

    async def delete(self, key_id: str, user_id: str) -> None:
        await self._redis.delete(keys.session(key_id))
        await self._redis.srem(keys.user_sessions(user_id), key_id)
        if self._changes is not None:
            await self._changes.publish("session", key_id)

    async def delete_all(self, user_id: str) -> None:
        index = keys.user_sessions(user_id)
        ids = cast(set[str], await self._redis.smembers(index))
        for key_id in ids:
            await self._redis.delete(keys.session(key_id))
        if ids:
            await self._redis.srem(index, *ids)
        if self._changes is not None:
            await self._changes.publish("user", user_id)
