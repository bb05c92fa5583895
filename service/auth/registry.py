"""The object registry and groups: what a platform tells the service about the objects it owns
(templates, workspaces) and the groups of an organization, each write authorized by the
policy on the object itself and audited.

Groups follow Coder's enterprise groups API (enterprise/coderd/groups.go): names unique per
organization, the implicit "Everyone" group whose id is the organization's and whose members
are all the organization's members.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.auth.admin import Administration, Operator
from service.auth.users import Organization, User, UserStore
from service.authz.authcheck import canonical_uuid, uuid_error
from service.authz.objects import (
    EVERYONE,
    REGISTRABLE,
    Group,
    ObjectError,
    ObjectRecord,
    ObjectStore,
    Resource,
    check_acl,
)
from service.authz.policy import Obj
from service.authz.resources import ResourceTable
from service.errors import ApiError, Validation, forbidden, not_found


@dataclass(frozen=True)
class ObjectSpec:
    """PUT /authz/objects/{type}/{id}: owner, organization and ACL (as given)."""

    owner_id: str = ""
    organization_id: str = ""
    acl: Any = None


def object_item(item: Mapping[str, Any]) -> tuple[str, str, ObjectSpec] | None:
    """One object of a batch or an import file (`resource_type`, `resource_id` and the PUT
    body's fields) as (type, id, spec); None when an id is not a string."""
    names = ("resource_type", "resource_id", "owner_id", "organization_id")
    kind, ident, owner, org = (item.get(name, "") for name in names)
    if not all(isinstance(v, str) for v in (kind, ident, owner, org)):
        return None
    return kind, ident, ObjectSpec(owner, org, item.get("acl"))


def _bad(detail: str) -> ApiError:
    return ApiError(400, "Invalid object.", detail)


class Registry:
    """Registered objects and groups."""

    def __init__(
        self,
        admin: Administration,
        store: ObjectStore,
        users: UserStore,
        table: ResourceTable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._admin = admin
        self._store = store
        self._users = users
        self._table = table
        self._clock = clock

    # -- objects ---------------------------------------------------------------------------

    def _ref(self, resource_type: str, resource_id: str) -> tuple[str, str]:
        if resource_type not in REGISTRABLE:
            raise _bad(
                f'objects of type "{resource_type}" cannot be registered '
                f"(only {', '.join(REGISTRABLE)})"
            )
        if problem := uuid_error(resource_id):
            raise _bad(f'"{resource_id}" is not a valid UUID: {problem}')
        return resource_type, canonical_uuid(resource_id)

    async def _readable(
        self, op: Operator, resource: Resource, groups: frozenset[str] | None = None
    ) -> bool:
        """Read by role or by ACL (the caller's groups included, fetched unless given),
        within a token's scope."""
        if self._admin.can(op, "read", resource.obj):
            return True
        if op.roles is None or (op.scope is not None and not op.scope.allows("read", resource.obj)):
            return False
        if groups is None:
            groups = await self._store.groups_of(op.user_id)
        orgs = [org for org, _ in op.roles.orgs]
        return resource.acl_decision(op.user_id, orgs, groups, "read") != ""

    async def get_object(self, op: Operator, resource_type: str, resource_id: str) -> ObjectRecord:
        kind, ident = self._ref(resource_type, resource_id)
        record = await self._store.get_object(kind, ident)
        if record is None or not await self._readable(op, record.resource()):
            raise not_found()
        return record

    async def put_object(
        self, op: Operator, resource_type: str, resource_id: str, spec: ObjectSpec
    ) -> tuple[ObjectRecord, bool]:
        """Create or replace; (the record, whether it was created)."""
        record, old = await self._prepare(op, resource_type, resource_id, spec)
        await self._write(op, record, old)
        return record, old is None

    async def put_objects(
        self, op: Operator, specs: Sequence[tuple[str, str, ObjectSpec]]
    ) -> list[ObjectRecord]:
        """The batch form: every object is checked and authorized before any is written, so
        a refused batch changes nothing (an error names the failing entry)."""
        prepared = []
        for index, (resource_type, resource_id, spec) in enumerate(specs):
            try:
                prepared.append(await self._prepare(op, resource_type, resource_id, spec))
            except ApiError as exc:
                detail = exc.detail or exc.message
                raise ApiError(exc.status, exc.message, f"objects[{index}]: {detail}") from None
        for record, old in prepared:
            await self._write(op, record, old)
        return [record for record, _ in prepared]

    async def _prepare(
        self, op: Operator, resource_type: str, resource_id: str, spec: ObjectSpec
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Validate and authorize a write. Creating needs `create` on the new object;
        changing one needs `update` on it as it was (and `create` on the new owner or
        organization when those move)."""
        kind, ident = self._ref(resource_type, resource_id)
        owner = await self._user_ref(spec.owner_id, "owner_id")
        org = await self._org_ref(spec.organization_id)
        try:
            acl = check_acl(kind, spec.acl, self._table, uuid_error)
        except ObjectError as exc:
            raise _bad(str(exc)) from None
        old = await self._store.get_object(kind, ident)
        new_obj = Obj(kind, owner, org, id=ident)
        if old is None:
            if not self._admin.can(op, "create", new_obj):
                raise forbidden()
        else:
            if not await self._readable(op, old.resource()):
                raise forbidden()
            if not self._admin.can(op, "update", old.resource().obj):
                raise forbidden()
            moved = (old.owner_id, old.organization_id) != (owner, org)
            if moved and not self._admin.can(op, "create", new_obj):
                raise forbidden()
        now = self._clock()
        record = ObjectRecord(kind, ident, owner, org, acl, old.created_at if old else now, now)
        return record, old

    async def _write(self, op: Operator, record: ObjectRecord, old: ObjectRecord | None) -> None:
        await self._store.put_object(record, old)
        await self._admin.record(
            op,
            "object_created" if old is None else "object_updated",
            object=f"{record.resource_type}:{record.resource_id}",
            owner_id=record.owner_id,
            organization_id=record.organization_id,
        )

    async def delete_object(self, op: Operator, resource_type: str, resource_id: str) -> None:
        kind, ident = self._ref(resource_type, resource_id)
        record = await self._store.get_object(kind, ident)
        if record is None or not await self._readable(op, record.resource()):
            raise not_found()
        if not self._admin.can(op, "delete", record.resource().obj):
            raise forbidden()
        if not await self._store.delete_object(record):
            raise not_found()
        await self._admin.record(op, "object_deleted", object=f"{kind}:{ident}")

    async def _user_ref(self, user_id: str, name: str) -> str:
        if not user_id:
            return ""
        if uuid_error(user_id):
            raise _bad(f'"{name}" must be a user id (a UUID)')
        canonical = canonical_uuid(user_id)
        if await self._users.get(canonical) is None:
            raise _bad(f'"{name}": no user has the id "{canonical}"')
        return canonical

    async def _org_ref(self, org_id: str) -> str:
        if not org_id:
            raise _bad('"organization_id" is required: objects belong to an organization')
        if uuid_error(org_id):
            raise _bad('"organization_id" must be an organization id (a UUID)')
        canonical = canonical_uuid(org_id)
        if await self._admin.org_by_id(canonical) is None:
            raise _bad(f'"organization_id": no organization has the id "{canonical}"')
        return canonical

    # -- groups ----------------------------------------------------------------------------

    async def create_group(
        self, op: Operator, org: Organization, name: str, display_name: str, avatar_url: str,
        quota_allowance: int,
    ) -> Group:  # fmt: skip
        """POST /organizations/{organization}/groups (Coder's checks and messages)."""
        if not self._admin.can(op, "create", Obj("group", org=org.id)):
            raise forbidden()
        if name == EVERYONE:
            raise ApiError(
                400,
                "Invalid group name.",
                validations=[Validation("name", f'"{name}" is a reserved group name')],
            )
        group = Group(
            str(uuid.uuid4()), name, display_name, org.id, avatar_url, quota_allowance, "user"
        )
        if not await self._store.create_group(group):
            raise ApiError(
                409,
                f'A group named "{name}" already exists.',
                validations=[Validation("name", "Group names must be unique")],
            )
        await self._admin.record(op, "group_created", group_id=group.id, organization_id=org.id)
        return group

    async def group(self, op: Operator, ref: str) -> Group:
        """The `{group}` parameter: a UUID, readable by the caller (by role, or as a member);
        the Everyone group of an organization has the organization's id."""
        if problem := uuid_error(ref):
            raise ApiError(400, f'Invalid UUID "{ref}".', problem)
        group_id = canonical_uuid(ref)
        group = await self._store.get_group(group_id)
        if group is None:
            org = await self._admin.org_by_id(group_id)
            if org is None:
                raise not_found()
            group = await self._everyone(org)
        if not await self._readable(op, group.obj()):
            raise not_found()
        return group

    async def _everyone(self, org: Organization) -> Group:
        members = tuple(sorted(u.id for u in await self._users.all() if org.id in u.orgs))
        return Group(org.id, EVERYONE, "", org.id, "", 0, "user", members)

    async def org_groups(self, op: Operator, org: Organization) -> list[Group]:
        """GET /organizations/{organization}/groups: those the caller may read, Everyone
        first."""
        groups = [await self._everyone(org), *await self._store.org_groups(org.id)]
        mine = await self._store.groups_of(op.user_id) if op.roles is not None else frozenset()
        return [g for g in groups if await self._readable(op, g.obj(), mine)]

    async def patch_group(
        self, op: Operator, group: Group, name: str, display_name: str | None,
        avatar_url: str | None, quota_allowance: int | None, add: Sequence[str],
        remove: Sequence[str],
    ) -> Group:  # fmt: skip
        """PATCH /groups/{group} (Coder's checks and messages, in its order)."""
        if not self._admin.can(op, "update", group.obj().obj):
            raise not_found()
        if name == group.name:
            name = ""
        if group.is_everyone and name:
            raise ApiError(400, f'Cannot rename the "{EVERYONE}" group!')
        if group.is_everyone and display_name:
            raise ApiError(400, f'Cannot update the Display Name for the "{EVERYONE}" group!')
        if name == EVERYONE:
            raise ApiError(400, f'"{EVERYONE}" is a reserved group name!')
        users = [*add, *remove]
        if users and group.is_everyone:
            raise ApiError(403, f'Cannot add or remove users from the "{EVERYONE}" group!')
        canonical: dict[str, str] = {}
        for ident in users:
            if uuid_error(ident):
                raise ApiError(400, f'ID "{ident}" must be a valid user UUID.')
            user_id = canonical_uuid(ident)
            user = await self._users.get(user_id)
            if user is None or group.organization_id not in user.orgs:
                raise ApiError(400, f'User must be a member of organization "{group.name}"')
            canonical[ident] = user_id
        if set(canonical[i] for i in add) & set(group.members):
            raise ApiError(400, "Cannot add the same user to a group twice!")
        # Removing someone who is not a member is a no-op, as Coder's DELETE is.
        updated = replace(
            group,
            name=name or group.name,
            display_name=group.display_name if display_name is None else display_name,
            avatar_url=group.avatar_url if avatar_url is None else avatar_url,
            quota_allowance=group.quota_allowance if quota_allowance is None else quota_allowance,
        )
        result = await self._store.update_group(
            updated, group.name, [canonical[i] for i in add], [canonical[i] for i in remove]
        )
        if result == -1:
            raise ApiError(409, f'A group with name "{name}" already exists.')
        if result == 0:
            raise not_found()
        await self._admin.record(op, "group_updated", group_id=group.id)
        fresh = await self._store.get_group(group.id)
        return fresh or updated

    async def delete_group(self, op: Operator, group: Group) -> None:
        """DELETE /groups/{group}."""
        if group.is_everyone:
            raise ApiError(400, f'"{EVERYONE}" is a reserved group and cannot be deleted!')
        if not self._admin.can(op, "delete", group.obj().obj):
            raise not_found()
        if not await self._store.delete_group(group):
            raise not_found()
        await self._admin.record(op, "group_deleted", group_id=group.id)

    async def members(self, group: Group) -> list[User]:
        users = [await self._users.get(i) for i in group.members]
        return sorted((u for u in users if u is not None), key=lambda u: u.username.lower())
