"""RedisSessionStore: one string per session, kept until a day after its expiry."""

from __future__ import annotations

import base64
import math
from dataclasses import replace
from typing import cast

from service.auth.sessions import ALLOW_ALL, FULL_SCOPE, Session
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.redis import Redis

# Scripts, not MULTI: atomic on standalone, Sentinel and Cluster alike (one key each).
# Index TTLs only grow: a session must not shorten the index a long-lived token needs.
_INDEX = """
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

# Reserve a token name (KEYS[2]: the user's name hash) and index the id (KEYS[1]), in the
# user's slot. A name held by a token that no longer exists (ARGV[4] = that stale id, checked
# by the caller) may be taken over.
_RESERVE = """
local held = redis.call('HGET', KEYS[2], ARGV[3])
if held and held ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[1], ARGV[1])
for _, key in ipairs(KEYS) do
  if redis.call('TTL', key) < tonumber(ARGV[2]) then redis.call('EXPIRE', key, ARGV[2]) end
end
return 1
"""

# Unindex a session or token (ARGV[1]) and free its name (ARGV[2]) if it still holds it.
_UNINDEX = """
redis.call('SREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 1
"""

# Returns 2 when the record had never been used (last_used, the sixth field, was 0): a
# token's first use, decided once even when replicas race.
_EXTEND = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
if string.match(current, '^[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|([^|]*)|') == '0' then return 2 end
return 1
"""

# A session is one compact string (~150 bytes, not a 9-field hash): fields joined by "|",
# times in milliseconds (see _pack). Measured in bench/: bytes per live session. Version 3
# adds a token's scopes and allow-list (comma-separated, empty for the full-access defaults)
# and its name, last, so that a name may hold any character.
_VERSION = "3"


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
            "" if session.scopes == (FULL_SCOPE,) else ",".join(session.scopes),
            "" if session.allow_list == (ALLOW_ALL,) else ",".join(session.allow_list),
            session.token_name,
        )
    )


def _unpack(key_id: str, value: str) -> Session | None:
    parts = value.split("|", 11)
    if len(parts) == 10 and parts[0] == "2":  # written before tokens existed
        parts[0] = _VERSION
        parts[9:] = ["", "", ""]
    if len(parts) != 12 or parts[0] != _VERSION:
        return None
    _, user_id, digest, created, expires, last_used, lifetime, login_type, ip = parts[:9]
    scopes, allow_list, token_name = parts[9:]
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
        scopes=tuple(scopes.split(",")) if scopes else (FULL_SCOPE,),
        allow_list=tuple(allow_list.split(",")) if allow_list else (ALLOW_ALL,),
        token_name=token_name,
    )


# An expired session stays this long after its expiry, so that a client coming back gets
# Coder's `API key expired at "..."` rather than `API key is invalid.` (which a key that
# vanished at the instant it expired would give). It authenticates nothing in that time: the
# expiry is checked on every use.
EXPIRED_KEPT = 24 * 3600


def _expire_at(ts: float) -> int:
    return math.ceil(ts) + EXPIRED_KEPT


class RedisSessionStore:
    """SessionStore on Redis, plus a per-user index so that all of a user's sessions and
    tokens can go, and a per-user hash of token names."""

    def __init__(
        self, redis: Redis, max_lifetime: float, changes: RedisChangeFeed | None = None
    ) -> None:
        """`max_lifetime`: the longest a session may live (the index's least TTL; a token
        raises its user's index TTL to its own expiry)."""
        self._redis = redis
        self._changes = changes
        self._index_ttl = math.ceil(max_lifetime) + EXPIRED_KEPT + 60
        self._extend = redis.register_script(_EXTEND)
        self._index = redis.register_script(_INDEX)
        self._reserve = redis.register_script(_RESERVE)
        self._unindex = redis.register_script(_UNINDEX)

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

    async def extend(self, key_id: str, expires_at: float, last_used: float) -> bool:
        # Only if it still exists: never resurrect a session deleted meanwhile (logout on
        # another replica, a password reset).
        current = await self.get(key_id)
        if current is None:
            return False
        moved = replace(current, expires_at=expires_at, last_used=last_used)
        written = await self._extend(
            keys=[keys.session(key_id)], args=[_pack(moved), _expire_at(expires_at)]
        )
        return int(written) == 2

    async def put_token(self, token: Session) -> bool:
        user_id = token.user_id
        index = [keys.user_sessions(user_id), keys.user_tokens(user_id)]
        ttl = max(self._index_ttl, _expire_at(token.expires_at) - math.floor(token.created_at) + 60)
        args: list[str | int] = [token.id, ttl, token.token_name]
        if not await self._reserve(keys=index, args=[*args, ""]):
            held = cast(str | None, await self._redis.hget(index[1], token.token_name))
            if held is None:
                return False
            current = await self.get(held)
            if current is not None and current.expires_at > token.created_at:
                return False  # the name belongs to a live token
            if not await self._reserve(keys=index, args=[*args, held]):
                return False
        await self._redis.set(
            keys.session(token.id), _pack(token), exat=_expire_at(token.expires_at)
        )
        return True

    async def tokens_of(self, user_id: str) -> list[Session]:
        named = cast(dict[str, str], await self._redis.hgetall(keys.user_tokens(user_id)))
        if not named:
            return []
        pipe = self._redis.pipeline(transaction=False)
        ids = list(named.values())
        for key_id in ids:
            pipe.get(keys.session(key_id))
        values = cast(list[str | None], await pipe.execute())
        tokens = [_unpack(key_id, v) for key_id, v in zip(ids, values, strict=True) if v]
        return [t for t in tokens if t is not None and t.user_id == user_id and t.is_token]

    async def token_named(self, user_id: str, name: str) -> Session | None:
        key_id = cast(str | None, await self._redis.hget(keys.user_tokens(user_id), name))
        token = await self.get(key_id) if key_id else None
        return token if token is not None and token.user_id == user_id else None

    async def delete(self, session: Session) -> bool:
        removed = int(await self._redis.delete(keys.session(session.id)))
        await self._unindex(
            keys=[keys.user_sessions(session.user_id), keys.user_tokens(session.user_id)],
            args=[session.id, session.token_name],
        )
        if self._changes is not None:
            await self._changes.publish("session", session.id)
        return removed > 0

    async def delete_all(self, user_id: str) -> None:
        index = keys.user_sessions(user_id)
        ids = cast(set[str], await self._redis.smembers(index))
        for key_id in ids:
            await self._redis.delete(keys.session(key_id))
        if ids:
            await self._redis.srem(index, *ids)
        await self._redis.delete(keys.user_tokens(user_id))
        if self._changes is not None:
            await self._changes.publish("user", user_id)
