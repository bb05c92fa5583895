"""RedisSessionStore: one string per session, kept until a day after its expiry."""

from __future__ import annotations

import base64
import math
import uuid
from dataclasses import replace
from typing import cast

from service.auth.sessions import ALLOW_ALL, FULL_SCOPE, Session
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.redis import CoalescedReader, Redis

# Scripts, not MULTI: atomic on standalone, Sentinel and Cluster alike (one slot each).
# There is no per-user index of sessions: revoking all of a user's sessions raises the
# `session_epoch` field of the user's record (KEYS[1]; never recreating a deleted one), and a
# session issued under a lower epoch is refused when it is next used (auth/identity.py).
_REVOKE_ALL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'session_epoch', 1)
"""

# Reserve a token name (KEYS[1]: the user's name hash) for a token id (ARGV[1]), in the
# user's slot; the hash's TTL only grows (ARGV[2]). A name held by a token that no longer
# exists (ARGV[4] = that stale id, checked by the caller) may be taken over.
_RESERVE = """
local held = redis.call('HGET', KEYS[1], ARGV[3])
if held and held ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

# Free a token's name (ARGV[2]) if it still holds it (ARGV[1]).
_UNINDEX = """
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[2]) end
return 1
"""

# Returns 2 when the record had never been used: a token's first use, decided once even when
# replicas race. The last use is the sixth field: empty for "never" from version 4 on, "0"
# before.
_EXTEND = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
local version, used = string.match(current, '^([^|]*)|[^|]*|[^|]*|[^|]*|[^|]*|([^|]*)|')
if (version == '4' and used == '') or (version ~= '4' and used == '0') then return 2 end
return 1
"""

# A session is one compact string, not a hash: fields joined by "|" (measured in bench/:
# bytes per live session). Version 4:
#   4|user|digest|created|expires|last used|lifetime|login type|ip|epoch|scopes|allow|name
# - user: a canonical UUID as its 16 bytes in unpadded URL-safe base64 (22 characters), any
#   other id as its UTF-8 the same way, behind "~";
# - digest: the SHA-256 of the secret, unpadded URL-safe base64;
# - created: Unix milliseconds (whole seconds would make a session created just after a
#   password reset look older than it); expires and last used: milliseconds after created,
#   last used empty for "never" (a token not yet used);
# - lifetime: seconds; login type: one letter for the known ones;
# - scopes and allow-list comma-separated, empty for the full-access defaults; the token's
#   name last, so that it may hold any character.
# Versions 2 and 3 (absolute times, no epoch) are still read.
_VERSION = "4"
_LOGIN_CODES = {"password": "p", "github": "g", "oidc": "o", "token": "t", "none": "n"}
_LOGIN_NAMES = {code: name for name, code in _LOGIN_CODES.items()}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pack_user(user_id: str) -> str:
    try:
        parsed = uuid.UUID(user_id)
    except ValueError:
        parsed = None
    if parsed is not None and str(parsed) == user_id:
        return _b64(parsed.bytes)
    return "~" + _b64(user_id.encode())  # never a "|"


def _unpack_user(text: str) -> str:
    if text[:1] == "~":
        return _unb64(text[1:]).decode()
    raw = _unb64(text)
    if len(raw) != 16:
        raise ValueError("a packed user id is 16 bytes")
    h = raw.hex()  # str(uuid.UUID(bytes=raw)), at a third of the cost
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pack(session: Session) -> str:
    created = int(session.created_at * 1000)
    return "|".join(
        (
            _VERSION,
            _pack_user(session.user_id),
            _b64(bytes.fromhex(session.hashed_secret)),
            str(created),
            str(math.ceil(session.expires_at * 1000) - created),
            str(int(session.last_used * 1000) - created) if session.last_used else "",
            str(int(session.lifetime)),
            _LOGIN_CODES.get(session.login_type, session.login_type),
            session.ip,
            str(session.epoch),
            "" if session.scopes == (FULL_SCOPE,) else ",".join(session.scopes),
            "" if session.allow_list == (ALLOW_ALL,) else ",".join(session.allow_list),
            session.token_name,
        )
    )


def _unpack(key_id: str, value: str) -> Session | None:
    if value[:2] != "4|":
        return _unpack_v3(key_id, value)
    parts = value.split("|", 12)
    if len(parts) != 13:
        return None
    _, user, digest, created, expires, last_used, lifetime, login_type, ip, epoch = parts[:10]
    scopes, allow_list, token_name = parts[10:]
    created_ms = int(created)
    return Session(
        id=key_id,
        user_id=_unpack_user(user),
        hashed_secret=_unb64(digest).hex(),
        created_at=created_ms / 1000,
        expires_at=(created_ms + int(expires)) / 1000,
        last_used=(created_ms + int(last_used)) / 1000 if last_used else 0.0,
        lifetime=float(lifetime),
        login_type=_LOGIN_NAMES.get(login_type, login_type),
        ip=ip,
        scopes=tuple(scopes.split(",")) if scopes else (FULL_SCOPE,),
        allow_list=tuple(allow_list.split(",")) if allow_list else (ALLOW_ALL,),
        token_name=token_name,
        epoch=int(epoch),
    )


def _unpack_v3(key_id: str, value: str) -> Session | None:
    """A record of version 3 (or 2, before tokens): absolute times, no epoch (0)."""
    parts = value.split("|", 11)
    if len(parts) == 10 and parts[0] == "2":
        parts[9:] = ["", "", ""]
    elif len(parts) != 12 or parts[0] != "3":
        return None
    _, user_id, digest, created, expires, last_used, lifetime, login_type, ip = parts[:9]
    scopes, allow_list, token_name = parts[9:]
    return Session(
        id=key_id,
        user_id=user_id,
        hashed_secret=_unb64(digest).hex(),
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
    """SessionStore on Redis: one string per session or token, plus a per-user hash of token
    names. Revoking all of a user's sessions raises the user's session epoch."""

    def __init__(
        self, redis: Redis, max_lifetime: float, changes: RedisChangeFeed | None = None
    ) -> None:
        """`max_lifetime`: the longest a session may live (the token-name hash's least TTL; a
        token raises it to its own expiry)."""
        self._redis = redis
        self._reads = CoalescedReader(redis)
        self._changes = changes
        self._names_ttl = math.ceil(max_lifetime) + EXPIRED_KEPT + 60
        self._extend = redis.register_script(_EXTEND)
        self._reserve = redis.register_script(_RESERVE)
        self._unindex = redis.register_script(_UNINDEX)
        self._revoke_all = redis.register_script(_REVOKE_ALL)

    async def put(self, session: Session) -> None:
        await self._redis.set(
            keys.session(session.id), _pack(session), exat=_expire_at(session.expires_at)
        )

    async def get(self, key_id: str) -> Session | None:
        # Concurrent lookups (requests whose session the process has not cached) share a
        # round trip.
        value = await self._reads.get(keys.session(key_id))
        return _unpack(key_id, value) if value else None

    async def extend(self, session: Session, expires_at: float, last_used: float) -> bool:
        # The caller has just read the record: no second read. The script writes only if it
        # still exists (never resurrecting a session deleted meanwhile: logout on another
        # replica, a password reset) and tells a token's first use from the stored record.
        moved = replace(session, expires_at=expires_at, last_used=last_used)
        written = await self._extend(
            keys=[keys.session(session.id)], args=[_pack(moved), _expire_at(expires_at)]
        )
        return int(written) == 2

    async def put_token(self, token: Session) -> bool:
        names = keys.user_tokens(token.user_id)
        ttl = max(self._names_ttl, _expire_at(token.expires_at) - math.floor(token.created_at) + 60)
        args: list[str | int] = [token.id, ttl, token.token_name]
        if not await self._reserve(keys=[names], args=[*args, ""]):
            held = cast(str | None, await self._redis.hget(names, token.token_name))
            if held is None:
                return False
            current = await self.get(held)
            if current is not None and current.expires_at > token.created_at:
                return False  # the name belongs to a live token
            if not await self._reserve(keys=[names], args=[*args, held]):
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
        if session.token_name:
            await self._unindex(
                keys=[keys.user_tokens(session.user_id)], args=[session.id, session.token_name]
            )
        if self._changes is not None:
            await self._changes.publish("session", session.id)
        return removed > 0

    async def delete_all(self, user_id: str) -> None:
        # The epoch first: from here on, no session or token of the user authenticates.
        # Sessions then age out with their TTL; tokens (which may live for years) go now.
        await self._revoke_all(keys=[keys.user(user_id)])
        names = keys.user_tokens(user_id)
        ids = cast(dict[str, str], await self._redis.hgetall(names)).values()
        pipe = self._redis.pipeline(transaction=False)  # one round trip; any slot layout
        for key_id in ids:
            pipe.delete(keys.session(key_id))
        pipe.delete(names)
        await pipe.execute()
        if self._changes is not None:
            await self._changes.publish("user", user_id)
