"""RedisUserStore: user records and their email/username indexes, in one hash slot."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from service.auth.addresses import same_address, username_key
from service.auth.users import User, UserExists
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.redis import Redis

_CREATE = """
if ARGV[1] == '1' and redis.call('SCARD', KEYS[4]) > 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('EXISTS', KEYS[3]) == 1 then return -2 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"""

_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

_LINK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'login_type', ARGV[2], 'link:' .. ARGV[3], ARGV[4],
           'updated_at', ARGV[5])
if ARGV[2] ~= 'password' then
  local old = redis.call('HGET', KEYS[1], 'hashed_password')
  if old and old ~= '' then redis.call('HSET', KEYS[1], 'retired_password_hash', old) end
  redis.call('HSET', KEYS[1], 'hashed_password', '')
end
return 1
"""

_JSON_FIELDS = ("roles", "orgs")
_FLOAT_FIELDS = ("created_at", "updated_at", "last_seen_at", "sessions_valid_after")


def _encode(name: str, value: Any) -> str:
    if name == "roles":
        return json.dumps(list(value))
    if name == "orgs":
        return json.dumps({org: list(r) for org, r in value.items()})
    if name in _FLOAT_FIELDS:
        return repr(float(value))
    return str(value)


def _decode(raw: dict[str, str]) -> User:
    orgs = json.loads(raw.get("orgs", "{}"))
    return User(
        id=raw["id"],
        username=raw["username"],
        email=raw["email"],
        login_type=cast(Any, raw["login_type"]),
        status=cast(Any, raw["status"]),
        hashed_password=raw.get("hashed_password", ""),
        roles=tuple(json.loads(raw.get("roles", "[]"))),
        orgs={org: tuple(r) for org, r in orgs.items()},
        created_at=float(raw["created_at"]),
        updated_at=float(raw["updated_at"]),
        last_seen_at=float(raw["last_seen_at"]),
        name=raw.get("name", ""),
        sessions_valid_after=float(raw.get("sessions_valid_after", "0")),
        links={k.removeprefix("link:"): v for k, v in raw.items() if k.startswith("link:")},
        retired_password_hash=raw.get("retired_password_hash", ""),
    )


class RedisUserStore:
    """UserStore on Redis. Users are durable: no TTL."""

    def __init__(self, redis: Redis, changes: RedisChangeFeed | None = None) -> None:
        self._redis = redis
        self._changes = changes
        self._create = redis.register_script(_CREATE)
        self._update = redis.register_script(_UPDATE)
        self._link = redis.register_script(_LINK)

    async def create(self, user: User, *, only_if_empty: bool = False) -> bool:
        """Insert atomically with its indexes. Raises UserExists."""
        fields: list[str] = []
        for name in User.__dataclass_fields__:
            if name != "links":
                fields += [name, _encode(name, getattr(user, name))]
        for provider, subject in user.links.items():
            fields += [f"link:{provider}", subject]
        result = await self._create(
            keys=[
                keys.user(user.id),
                keys.user_by_email(user.email),
                keys.user_by_username(user.username),
                keys.user_ids(),
            ],
            args=["1" if only_if_empty else "0", user.id, *fields],
        )
        if result == -1:
            raise UserExists("email")
        if result == -2:
            raise UserExists("username")
        return bool(result == 1)

    async def get(self, user_id: str) -> User | None:
        raw = cast(dict[str, str], await self._redis.hgetall(keys.user(user_id)))
        return _decode(raw) if raw else None

    async def _by_index(self, index_key: str) -> User | None:
        user_id = cast(str | None, await self._redis.get(index_key))
        return await self.get(user_id) if user_id else None

    async def by_email(self, email: str) -> User | None:
        user = await self._by_index(keys.user_by_email(email))
        # The key also catches look-alikes; only the address itself may match.
        return user if user is not None and same_address(user.email, email) else None

    async def by_username(self, username: str) -> User | None:
        user = await self._by_index(keys.user_by_username(username))
        return (
            user
            if user is not None and username_key(user.username) == username_key(username)
            else None
        )

    async def all(self) -> list[User]:
        ids = cast(set[str], await self._redis.smembers(keys.user_ids()))
        users = [u for i in sorted(ids) if (u := await self.get(i)) is not None]
        return sorted(users, key=lambda u: (u.created_at, u.username))

    async def count(self) -> int:
        return int(await self._redis.scard(keys.user_ids()))

    async def update(self, user_id: str, **fields: Any) -> None:
        args: list[str] = []
        for name, value in fields.items():
            if name not in User.__dataclass_fields__ or name in (
                "id",
                "email",
                "username",
                "links",
            ):
                raise ValueError(f"cannot update user field {name!r}")
            args += [name, _encode(name, value)]
        await self._update(keys=[keys.user(user_id)], args=args)
        if self._changes is not None:
            await self._changes.publish("user", user_id)

    async def _created_once(self, key: str) -> str:
        await self._redis.set(key, str(uuid.uuid4()), nx=True)
        return str(await self._redis.get(key))

    async def default_org(self) -> str:
        return await self._created_once(keys.default_org())

    async def deployment_id(self) -> str:
        return await self._created_once(keys.deployment_id())

    async def by_link(self, provider: str, subject: str) -> User | None:
        return await self._by_index(keys.user_link(provider, subject))

    async def set_login(
        self, user_id: str, login_type: str, provider: str, subject: str, now: float
    ) -> bool:
        result = await self._link(
            keys=[keys.user(user_id), keys.user_link(provider, subject)],
            args=[user_id, login_type, provider, subject, repr(now)],
        )
        if self._changes is not None:
            await self._changes.publish("user", user_id)
        return bool(result == 1)
