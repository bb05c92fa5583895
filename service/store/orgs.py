"""RedisOrgStore: organization records and their name index, in the user directory's slot.

Organizations share the `{u}` hash tag with the users, so that deleting one also removes every
membership (a field on each member's record) in one script.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from service.auth.users import Organization, OrganizationExists
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.redis import Redis, hgetall_many

DEFAULT_ORG_NAME = "coder"
DEFAULT_ORG_DISPLAY_NAME = "Coder"

# KEYS: default-org id, org ids, the default name's index; ARGV: a fresh id, now, org key
# prefix. Creates the id and the record on first use (records of deployments from before
# organizations had records are created here too).
_DEFAULT = """
local id = redis.call('GET', KEYS[1])
if not id then
  id = ARGV[1]
  redis.call('SET', KEYS[1], id)
end
local key = ARGV[3] .. id
if redis.call('EXISTS', key) == 0 then
  local name = ARGV[4]
  local holder = redis.call('GET', KEYS[3])
  if holder and holder ~= id then name = id else redis.call('SET', KEYS[3], id) end
  redis.call('HSET', key, 'id', id, 'name', name, 'display_name', ARGV[5], 'description', '',
             'icon', '', 'created_at', ARGV[2], 'updated_at', ARGV[2], 'is_default', '1')
  redis.call('SADD', KEYS[2], id)
end
return id
"""

# KEYS: record, name index, ids; ARGV: id, field/value pairs...
_CREATE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

# KEYS: record, old name index, new name index; ARGV: id, old name, field/value pairs...
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'name') ~= ARGV[2] then return -2 end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return -1 end
if KEYS[2] ~= KEYS[3] then redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
"""

# KEYS: record, name index, org ids, user ids; ARGV: id, user key prefix, membership field.
_DELETE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'is_default') == '1' then return -1 end
for _, user in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('HDEL', ARGV[2] .. user, ARGV[3])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""


def _decode(raw: dict[str, str]) -> Organization:
    return Organization(
        id=raw["id"],
        name=raw["name"],
        display_name=raw.get("display_name", ""),
        description=raw.get("description", ""),
        icon=raw.get("icon", ""),
        created_at=float(raw["created_at"]),
        updated_at=float(raw["updated_at"]),
        is_default=raw.get("is_default") == "1",
    )


def _fields(org: Organization) -> list[str]:
    return [
        "id",
        org.id,
        "name",
        org.name,
        "display_name",
        org.display_name,
        "description",
        org.description,
        "icon",
        org.icon,
        "created_at",
        repr(org.created_at),
        "updated_at",
        repr(org.updated_at),
        "is_default",
        "1" if org.is_default else "0",
    ]


def org_key_prefix() -> str:
    """The key of organization `id` is this prefix followed by the id."""
    return keys.org("")


async def ensure_default_org(redis: Redis, now: float) -> str:
    """The default organization's id; its record is created on first use."""
    script = redis.register_script(_DEFAULT)
    result = await script(
        keys=[keys.default_org(), keys.org_ids(), keys.org_by_name(DEFAULT_ORG_NAME)],
        args=[
            str(uuid.uuid4()),
            repr(now),
            org_key_prefix(),
            DEFAULT_ORG_NAME,
            DEFAULT_ORG_DISPLAY_NAME,
        ],
    )
    return str(result)


class RedisOrgStore:
    """Organizations on Redis (durable: no TTL)."""

    def __init__(self, redis: Redis, changes: RedisChangeFeed | None = None) -> None:
        self._redis = redis
        self._changes = changes
        self._create = redis.register_script(_CREATE)
        self._update = redis.register_script(_UPDATE)
        self._delete = redis.register_script(_DELETE)

    async def default_org(self, now: float) -> Organization:
        """The default organization, created on first use."""
        org = await self.get(await ensure_default_org(self._redis, now))
        assert org is not None  # the script just made sure of it
        return org

    async def create(self, org: Organization) -> None:
        """Insert with its name index. Raises OrganizationExists."""
        result = await self._create(
            keys=[keys.org(org.id), keys.org_by_name(org.name), keys.org_ids()],
            args=[org.id, *_fields(org)],
        )
        if result == -1:
            raise OrganizationExists

    async def get(self, org_id: str) -> Organization | None:
        raw = cast(dict[str, str], await self._redis.hgetall(keys.org(org_id)))
        return _decode(raw) if raw else None

    async def by_name(self, name: str) -> Organization | None:
        org_id = cast(str | None, await self._redis.get(keys.org_by_name(name)))
        org = await self.get(org_id) if org_id else None
        return org if org is not None and org.name.lower() == name.lower() else None

    async def all(self) -> list[Organization]:
        ids = sorted(cast(set[str], await self._redis.smembers(keys.org_ids())))
        records = await hgetall_many(self._redis, [keys.org(i) for i in ids])
        orgs = [_decode(raw) for raw in records if raw]
        return sorted(orgs, key=lambda o: (not o.is_default, o.created_at, o.name))

    async def update(self, org: Organization, **fields: Any) -> bool | None:
        """Set fields (renaming moves the index). False: gone; None: changed meanwhile.

        Raises OrganizationExists when the new name is taken."""
        name = str(fields.get("name", org.name))
        args: list[str] = [org.id, org.name]
        for field, value in fields.items():
            args += [field, repr(value) if isinstance(value, float) else str(value)]
        result = await self._update(
            keys=[keys.org(org.id), keys.org_by_name(org.name), keys.org_by_name(name)],
            args=args,
        )
        if result == -1:
            raise OrganizationExists
        if result == -2:
            return None
        return bool(result == 1)

    async def delete(self, org: Organization, member_ids: list[str]) -> int:
        """Delete it and every membership in it: 1 done, 0 gone, -1 the default organization."""
        result = int(
            await self._delete(
                keys=[
                    keys.org(org.id),
                    keys.org_by_name(org.name),
                    keys.org_ids(),
                    keys.user_ids(),
                ],
                args=[org.id, keys.user_prefix(), keys.membership_field(org.id)],
            )
        )
        if result == 1 and self._changes is not None:
            for user_id in member_ids:
                await self._changes.publish("user", user_id)
        return result
