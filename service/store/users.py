"""RedisUserStore: user records and their email/username indexes, in one hash slot.

A user's organization memberships are fields of its record, `org:<organization id>` ->
`{"roles": [...], "created_at": t, "updated_at": t}`, so that joining, leaving, changing org
roles and deleting an organization (store/orgs.py) are single-slot scripts. Records written
before memberships had their own fields keep them in one JSON field, `orgs`; they are read
as well, and rewritten field by field on the next membership change.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, cast

import orjson

from service.auth.addresses import same_address, username_key
from service.auth.users import LastOwner, StaleUser, User, UserExists
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.orgs import ensure_default_org
from service.store.redis import Redis, hgetall_many

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

# Owners are counted by their JSON role list (role names are [a-z0-9-]+, so the quoted name
# cannot match anything else). ARGV[1] of each script is the user key prefix.
_OWNER_COUNT = """
local function owners()
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    local r = redis.call('HGET', ARGV[1] .. id, 'roles')
    if r and string.find(r, '"owner"', 1, true) then n = n + 1 end
  end
  return n
end
local function is_owner(key)
  local r = redis.call('HGET', key, 'roles')
  return r and string.find(r, '"owner"', 1, true)
end
"""

_SET_ROLES = (
    _OWNER_COUNT
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[4] == '0' and is_owner(KEYS[1]) and owners() <= 1 then return -1 end
redis.call('HSET', KEYS[1], 'roles', ARGV[2], 'updated_at', ARGV[3])
return 1
"""
)

# KEYS: record, ids, email index, username index, link indexes...; ARGV: prefix, id, email,
# username. The stored email and username must be the ones the index keys were built from.
_DELETE = (
    _OWNER_COUNT
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local stored = redis.call('HMGET', KEYS[1], 'email', 'username')
if stored[1] ~= ARGV[3] or stored[2] ~= ARGV[4] then return -2 end
if is_owner(KEYS[1]) and owners() <= 1 then return -1 end
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2] then redis.call('DEL', KEYS[i]) end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""
)

# KEYS: record, old username index, new username index; ARGV: id, old username, new
# username, name, updated_at.
_PROFILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'username') ~= ARGV[2] then return -2 end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return -1 end
if KEYS[2] ~= KEYS[3] then redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'username', ARGV[3], 'name', ARGV[4], 'updated_at', ARGV[5])
return 1
"""

# KEYS: record, organization; ARGV: field, value, mode ('add', 'set'). 0: no such user,
# -1: no such organization, -2: already a member (add), -3: not a member (set).
_MEMBERSHIP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local present = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if ARGV[3] == 'add' and present then return -2 end
if ARGV[3] == 'set' and not present then return -3 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

_FLOAT_FIELDS = ("created_at", "updated_at", "last_seen_at", "sessions_valid_after")


def _encode(name: str, value: Any) -> str:
    if name == "roles":
        return json.dumps(list(value))
    if name in _FLOAT_FIELDS:
        return repr(float(value))
    return str(value)


def _membership(roles: Any, created_at: float, updated_at: float) -> str:
    return json.dumps(
        {"roles": list(dict.fromkeys(roles)), "created_at": created_at, "updated_at": updated_at}
    )


def _decode(raw: dict[str, str]) -> User:
    """A record read back. Listing decodes every user, so the fields are walked once and
    JSON goes through orjson."""
    created = float(raw["created_at"])
    orgs: dict[str, tuple[str, ...]] = {}
    joined: dict[str, Any] = {}
    links: dict[str, str] = {}
    legacy = raw.get("orgs")
    if legacy:
        for org, roles in orjson.loads(legacy).items():
            orgs[org] = tuple(roles)
            joined[org] = (created, created)
    for name, value in raw.items():
        if name[:4] == "org:":
            member = orjson.loads(value)
            orgs[name[4:]] = tuple(member["roles"])
            joined[name[4:]] = (float(member["created_at"]), float(member["updated_at"]))
        elif name[:5] == "link:":
            links[name[5:]] = value
    return User(
        id=raw["id"],
        username=raw["username"],
        email=raw["email"],
        login_type=cast(Any, raw["login_type"]),
        status=cast(Any, raw["status"]),
        hashed_password=raw.get("hashed_password", ""),
        roles=tuple(orjson.loads(raw.get("roles", "[]"))),
        orgs=orgs,
        joined=joined,
        created_at=created,
        updated_at=float(raw["updated_at"]),
        last_seen_at=float(raw["last_seen_at"]),
        name=raw.get("name", ""),
        sessions_valid_after=float(raw.get("sessions_valid_after", "0")),
        session_epoch=int(raw.get("session_epoch", "0")),
        links=links,
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
        self._set_roles = redis.register_script(_SET_ROLES)
        self._delete = redis.register_script(_DELETE)
        self._profile = redis.register_script(_PROFILE)
        self._membership = redis.register_script(_MEMBERSHIP)

    async def create(self, user: User, *, only_if_empty: bool = False) -> bool:
        """Insert atomically with its indexes. Raises UserExists."""
        fields: list[str] = []
        for name in User.__dataclass_fields__:
            if name not in ("links", "orgs", "joined"):
                fields += [name, _encode(name, getattr(user, name))]
        for provider, subject in user.links.items():
            fields += [f"link:{provider}", subject]
        for org, roles in user.orgs.items():
            fields += [
                keys.membership_field(org),
                _membership(roles, user.created_at, user.created_at),
            ]
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
        ids = sorted(cast(set[str], await self._redis.smembers(keys.user_ids())))
        records = await hgetall_many(self._redis, [keys.user(i) for i in ids])
        users = [_decode(raw) for raw in records if raw]
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
                "roles",
                "orgs",
                "joined",
                "session_epoch",  # raised only by the session store (revoking all sessions)
            ):
                raise ValueError(f"cannot update user field {name!r}")
            args += [name, _encode(name, value)]
        await self._update(keys=[keys.user(user_id)], args=args)
        if self._changes is not None:
            await self._changes.publish("user", user_id)

    async def default_org(self) -> str:
        return await ensure_default_org(self._redis, time.time())

    async def deployment_id(self) -> str:
        await self._redis.set(keys.deployment_id(), str(uuid.uuid4()), nx=True)
        return str(await self._redis.get(keys.deployment_id()))

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

    async def _published(self, user_id: str) -> None:
        if self._changes is not None:
            await self._changes.publish("user", user_id)

    async def set_site_roles(
        self, user_id: str, roles: tuple[str, ...], now: float, *, keeps_owner: bool
    ) -> bool:
        """Replace the site roles. Raises LastOwner when the last owner would lose the role."""
        result = await self._set_roles(
            keys=[keys.user(user_id), keys.user_ids()],
            args=[
                keys.user_prefix(),
                json.dumps(list(roles)),
                repr(now),
                "1" if keeps_owner else "0",
            ],
        )
        if result == -1:
            raise LastOwner
        await self._published(user_id)
        return bool(result == 1)

    async def add_membership(
        self, user_id: str, org_id: str, roles: tuple[str, ...], now: float
    ) -> int:
        """Join an organization: 1 done, 0 no user, -1 no organization, -2 already a member."""
        result = int(
            await self._membership(
                keys=[keys.user(user_id), keys.org(org_id)],
                args=[keys.membership_field(org_id), _membership(roles, now, now), "add"],
            )
        )
        if result == 1:
            await self._published(user_id)
        return result

    async def set_membership_roles(
        self, user: User, org_id: str, roles: tuple[str, ...], now: float
    ) -> int:
        """Replace org roles: 1 done, 0 no user, -1 no organization, -3 not a member."""
        created, _ = user.joined.get(org_id, (now, now))
        result = int(
            await self._membership(
                keys=[keys.user(user.id), keys.org(org_id)],
                args=[keys.membership_field(org_id), _membership(roles, created, now), "set"],
            )
        )
        if result == 1:
            await self._published(user.id)
        return result

    async def remove_membership(self, user_id: str, org_id: str) -> bool:
        """Leave an organization (a record of the legacy `orgs` form is rewritten first)."""
        removed = bool(await self._redis.hdel(keys.user(user_id), keys.membership_field(org_id)))
        legacy = cast(str | None, await self._redis.hget(keys.user(user_id), "orgs"))
        if legacy is not None:
            orgs = json.loads(legacy)
            removed = removed or orgs.pop(org_id, None) is not None
            await self._redis.hset(keys.user(user_id), "orgs", json.dumps(orgs))
        if removed:
            await self._published(user_id)
        return removed

    async def update_profile(self, user: User, username: str, name: str, now: float) -> bool:
        """Rename atomically with the username index. Raises UserExists, StaleUser."""
        result = await self._profile(
            keys=[
                keys.user(user.id),
                keys.user_by_username(user.username),
                keys.user_by_username(username),
            ],
            args=[user.id, user.username, username, name, repr(now)],
        )
        if result == -1:
            raise UserExists("username")
        if result == -2:
            raise StaleUser
        await self._published(user.id)
        return bool(result == 1)

    async def delete(self, user: User) -> bool:
        """Remove the record, its memberships and every index entry in one step.

        Raises LastOwner (the only owner) and StaleUser (renamed meanwhile)."""
        result = await self._delete(
            keys=[
                keys.user(user.id),
                keys.user_ids(),
                keys.user_by_email(user.email),
                keys.user_by_username(user.username),
                *(keys.user_link(p, s) for p, s in user.links.items()),
            ],
            args=[keys.user_prefix(), user.id, user.email, user.username],
        )
        if result == -1:
            raise LastOwner
        if result == -2:
            raise StaleUser
        await self._published(user.id)
        return bool(result == 1)
