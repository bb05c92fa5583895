"""RedisObjectStore: registered objects and groups, in the directory's `{u}` slot (with the
users and organizations they refer to), so that every write is one transaction and
`fetch` answers any mix of objects, groups and users in one round trip."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, cast

import orjson

from service.authz.objects import EVERYONE, Group, ObjectRecord, Resource
from service.authz.policy import Obj
from service.store import keys
from service.store.changes import RedisChangeFeed
from service.store.redis import Redis

# A group name is taken atomically: the name key is set only if free (or held by the group).
_RENAME = """
local held = redis.call('GET', KEYS[2])
if held and held ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
if KEYS[3] ~= KEYS[2] then redis.call('DEL', KEYS[3]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


def _acl_users(record: ObjectRecord) -> set[str]:
    return set(record.acl.get("users", {}))


class RedisObjectStore:
    """ObjectStore on Redis. Changes are announced on the change feed: `object:<type>:<id>`,
    `group:<id>` and `groups:<user id>` (a user's group memberships)."""

    def __init__(self, redis: Redis, changes: RedisChangeFeed | None = None) -> None:
        self._redis = redis
        self._changes = changes
        self._rename = redis.register_script(_RENAME)

    async def _publish(self, kind: str, ident: str) -> None:
        if self._changes is not None:
            await self._changes.publish(kind, ident)

    # -- objects ---------------------------------------------------------------------------

    async def put_object(self, record: ObjectRecord, old: ObjectRecord | None) -> None:
        ref = f"{record.resource_type}:{record.resource_id}"
        pipe = self._redis.pipeline(transaction=True)
        key = keys.registered_object(record.resource_type, record.resource_id)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "owner": record.owner_id,
                "org": record.organization_id,
                "acl": json.dumps(record.acl, sort_keys=True),
                "created_at": repr(record.created_at),
                "updated_at": repr(record.updated_at),
            },
        )
        if (
            old is not None
            and old.organization_id
            and old.organization_id != record.organization_id
        ):
            pipe.srem(keys.org_objects(old.organization_id), ref)
        if record.organization_id:
            pipe.sadd(keys.org_objects(record.organization_id), ref)
        for user_id in (_acl_users(old) if old else set()) - _acl_users(record):
            pipe.srem(keys.acl_user_objects(user_id), ref)
        for user_id in _acl_users(record):
            pipe.sadd(keys.acl_user_objects(user_id), ref)
        await pipe.execute()
        await self._publish("object", ref)

    async def get_object(self, resource_type: str, resource_id: str) -> ObjectRecord | None:
        raw = cast(
            dict[str, str],
            await self._redis.hgetall(keys.registered_object(resource_type, resource_id)),
        )
        return _record(resource_type, resource_id, raw) if raw else None

    async def delete_object(self, record: ObjectRecord) -> bool:
        ref = f"{record.resource_type}:{record.resource_id}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.registered_object(record.resource_type, record.resource_id))
        if record.organization_id:
            pipe.srem(keys.org_objects(record.organization_id), ref)
        for user_id in _acl_users(record):
            pipe.srem(keys.acl_user_objects(user_id), ref)
        removed = int((await pipe.execute())[0])
        await self._publish("object", ref)
        return removed > 0

    async def fetch(
        self, refs: list[tuple[str, str]], user_id: str
    ) -> tuple[dict[tuple[str, str], Resource | None], frozenset[str]]:
        pipe = self._redis.pipeline(transaction=False)
        for kind, ident in refs:
            if kind == "user":
                pipe.exists(keys.user(ident))
            elif kind == "group":
                pipe.hgetall(keys.group(ident))
                pipe.exists(keys.org(ident))  # the Everyone group has the organization's id
            else:
                pipe.hgetall(keys.registered_object(kind, ident))
        pipe.smembers(keys.user_groups(user_id))
        replies = list(await pipe.execute())
        groups = frozenset(cast(set[str], replies.pop()))
        out: dict[tuple[str, str], Resource | None] = {}
        at = 0
        for kind, ident in refs:
            reply = replies[at]
            at += 1
            if kind == "user":
                out[(kind, ident)] = Resource(Obj("user", owner=ident, id=ident)) if reply else None
            elif kind == "group":
                is_org = bool(replies[at])
                at += 1
                if reply:
                    out[(kind, ident)] = _group(ident, reply).obj()
                elif is_org:
                    out[(kind, ident)] = _everyone(ident).obj()
                else:
                    out[(kind, ident)] = None
            else:
                out[(kind, ident)] = _record(kind, ident, reply).resource() if reply else None
        return out, groups

    # -- groups ----------------------------------------------------------------------------

    async def groups_of(self, user_id: str) -> frozenset[str]:
        return frozenset(cast(set[str], await self._redis.smembers(keys.user_groups(user_id))))

    async def create_group(self, group: Group) -> bool:
        if not await self._redis.set(
            keys.group_by_name(group.organization_id, group.name), group.id, nx=True
        ):
            return False
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.group(group.id), mapping=cast(Any, _group_fields(group)))
        pipe.sadd(keys.org_groups(group.organization_id), group.id)
        await pipe.execute()
        await self._publish("group", group.id)
        return True

    async def get_group(self, group_id: str) -> Group | None:
        raw = cast(dict[str, str], await self._redis.hgetall(keys.group(group_id)))
        if not raw:
            return None
        members = cast(set[str], await self._redis.smembers(keys.group_members(group_id)))
        return _group(group_id, raw, tuple(sorted(members)))

    async def org_groups(self, org_id: str) -> list[Group]:
        ids = sorted(cast(set[str], await self._redis.smembers(keys.org_groups(org_id))))
        groups = [g for i in ids if (g := await self.get_group(i)) is not None]
        return sorted(groups, key=lambda g: g.name)

    async def update_group(
        self, group: Group, old_name: str, add: list[str], remove: list[str]
    ) -> int:
        org = group.organization_id
        result = int(
            await self._rename(
                keys=[
                    keys.group(group.id),
                    keys.group_by_name(org, group.name),
                    keys.group_by_name(org, old_name),
                ],
                args=[group.id, *[v for kv in _group_fields(group).items() for v in kv]],
            )
        )
        if result != 1:
            return result
        pipe = self._redis.pipeline(transaction=True)
        for user_id in add:
            pipe.sadd(keys.group_members(group.id), user_id)
            pipe.sadd(keys.user_groups(user_id), group.id)
        for user_id in remove:
            pipe.srem(keys.group_members(group.id), user_id)
            pipe.srem(keys.user_groups(user_id), group.id)
        await pipe.execute()
        await self._publish("group", group.id)
        for user_id in {*add, *remove}:
            await self._publish("groups", user_id)
        return 1

    async def delete_group(self, group: Group) -> bool:
        members = cast(set[str], await self._redis.smembers(keys.group_members(group.id)))
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.group(group.id))
        pipe.delete(keys.group_members(group.id))
        pipe.srem(keys.org_groups(group.organization_id), group.id)
        pipe.delete(keys.group_by_name(group.organization_id, group.name))
        for user_id in members:
            pipe.srem(keys.user_groups(user_id), group.id)
        removed = int((await pipe.execute())[0])
        await self._publish("group", group.id)
        for user_id in members:
            await self._publish("groups", user_id)
        return removed > 0

    # -- cascades --------------------------------------------------------------------------

    async def forget_user(self, user_id: str) -> None:
        groups = cast(set[str], await self._redis.smembers(keys.user_groups(user_id)))
        refs = cast(set[str], await self._redis.smembers(keys.acl_user_objects(user_id)))
        pipe = self._redis.pipeline(transaction=True)
        for group_id in groups:
            pipe.srem(keys.group_members(group_id), user_id)
        pipe.delete(keys.user_groups(user_id), keys.acl_user_objects(user_id))
        await pipe.execute()
        for ref in refs:
            kind, _, ident = ref.partition(":")
            record = await self.get_object(kind, ident)
            if record is not None and user_id in record.acl.get("users", {}):
                users = {k: v for k, v in record.acl["users"].items() if k != user_id}
                acl = {"users": users, "groups": dict(record.acl.get("groups", {}))}
                await self.put_object(replace(record, acl=acl), record)
        await self._publish("groups", user_id)

    async def forget_org(self, org_id: str) -> None:
        for group in await self.org_groups(org_id):
            await self.delete_group(group)
        refs = cast(set[str], await self._redis.smembers(keys.org_objects(org_id)))
        for ref in refs:
            kind, _, ident = ref.partition(":")
            record = await self.get_object(kind, ident)
            if record is not None and record.organization_id == org_id:
                await self.delete_object(record)
        await self._redis.delete(keys.org_objects(org_id), keys.org_groups(org_id))


def _record(resource_type: str, resource_id: str, raw: dict[str, str]) -> ObjectRecord:
    acl: Any = orjson.loads(raw.get("acl", "{}"))
    return ObjectRecord(
        resource_type,
        resource_id,
        raw.get("owner", ""),
        raw.get("org", ""),
        acl,
        float(raw.get("created_at", "0")),
        float(raw.get("updated_at", "0")),
    )


def _group_fields(group: Group) -> dict[str, str]:
    return {
        "id": group.id,
        "name": group.name,
        "display_name": group.display_name,
        "organization_id": group.organization_id,
        "avatar_url": group.avatar_url,
        "quota_allowance": str(group.quota_allowance),
        "source": group.source,
    }


def _group(group_id: str, raw: dict[str, str], members: tuple[str, ...] = ()) -> Group:
    return Group(
        id=group_id,
        name=raw.get("name", ""),
        display_name=raw.get("display_name", ""),
        organization_id=raw.get("organization_id", ""),
        avatar_url=raw.get("avatar_url", ""),
        quota_allowance=int(raw.get("quota_allowance", "0")),
        source=raw.get("source", "user"),
        members=members,
    )


def _everyone(org_id: str) -> Group:
    return Group(org_id, EVERYONE, "", org_id, "", 0, "user")
