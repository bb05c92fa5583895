"""Registered objects, groups and ACLs: what `authcheck` evaluates for a `resource_id`
(spec §7.4 `acl_allow`, §7.5).

A platform registers the objects it owns (templates, workspaces) with their owner,
organization and ACL. An ACL maps user ids and group ids to actions, or to one of Coder's ACL
role names (`use`, `admin`), expanded as Coder expands them. The implicit "Everyone" group of an
organization has the organization's id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from service.authz.policy import Obj
from service.authz.resources import WILDCARD, ResourceTable

REGISTRABLE: Final = ("template", "workspace")
EVERYONE: Final = "Everyone"
MAX_ACL_ENTRIES: Final = 1000

# Coder's db2sdk.TemplateRoleActions / WorkspaceRoleActions.
_WORKSPACE_ADMIN: Final = ("application_connect", "create", "create_agent", "delete_agent", "read",
                           "share", "ssh", "start", "stop", "update")  # fmt: skip
ROLE_ACTIONS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "template": {"admin": (WILDCARD,), "use": ("read", "use")},
    "workspace": {
        "admin": _WORKSPACE_ADMIN,
        "use": ("application_connect", "read", "ssh", "start", "stop"),
    },
}


class ObjectError(ValueError):
    """A registry request the service refuses; the text is the response detail."""


@dataclass(frozen=True)
class Resource:
    """A registered object as `authcheck` evaluates it: the policy object plus its ACL (user or
    group id -> allowed actions, `*` for all)."""

    obj: Obj
    acl_users: Mapping[str, frozenset[str]] = field(default_factory=dict)
    acl_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def acl_decision(
        self, subject_id: str, subject_orgs: Iterable[str], subject_groups: Iterable[str],
        action: str,
    ) -> str:  # fmt: skip
        """Which ACL rule allows `action` ("user", "group", "everyone") or "" (spec §7.4)."""
        if _grants(self.acl_users.get(subject_id), action):
            return "user"
        org = self.obj.org
        if not org or org not in set(subject_orgs):
            return ""
        if any(_grants(self.acl_groups.get(g), action) for g in subject_groups if g != org):
            return "group"
        if _grants(self.acl_groups.get(org), action):
            return "everyone"
        return ""


def _grants(actions: frozenset[str] | None, action: str) -> bool:
    return actions is not None and (action in actions or WILDCARD in actions)


@dataclass(frozen=True)
class ObjectRecord:
    """A registered object as stored and returned: the ACL as it was given."""

    resource_type: str
    resource_id: str
    owner_id: str
    organization_id: str
    acl: Mapping[str, Mapping[str, Any]]
    created_at: float
    updated_at: float

    def to_api(self) -> dict[str, Any]:
        return {
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "owner_id": self.owner_id,
            "organization_id": self.organization_id,
            "acl": {
                "users": dict(self.acl.get("users", {})),
                "groups": dict(self.acl.get("groups", {})),
            },
        }

    def resource(self) -> Resource:
        """The evaluable form (role names expanded)."""
        return Resource(
            Obj(self.resource_type, self.owner_id, self.organization_id, id=self.resource_id),
            expand_acl(self.resource_type, self.acl.get("users", {})),
            expand_acl(self.resource_type, self.acl.get("groups", {})),
        )


def expand_acl(resource_type: str, entries: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """id -> actions, role names replaced by their actions."""
    roles = ROLE_ACTIONS.get(resource_type, {})
    out: dict[str, frozenset[str]] = {}
    for ident, grant in entries.items():
        actions = roles.get(grant, ()) if isinstance(grant, str) else tuple(grant)
        out[ident] = frozenset(actions)
    return out


def check_acl(
    resource_type: str, acl: Any, table: ResourceTable, uuid_problem: Any
) -> dict[str, dict[str, Any]]:
    """Validate an ACL body: `{"users": {id: [actions] | role}, "groups": {...}}`. Ids must be
    UUIDs, actions valid for the type (or `*`), role names Coder's. Raises ObjectError."""
    if acl is None:
        return {"users": {}, "groups": {}}
    if not isinstance(acl, dict) or set(acl) - {"users", "groups"}:
        raise ObjectError('"acl" must be an object with "users" and "groups"')
    out: dict[str, dict[str, Any]] = {"users": {}, "groups": {}}
    roles = ROLE_ACTIONS.get(resource_type, {})
    allowed = set(table.resources.get(resource_type, ())) | {WILDCARD}
    count = 0
    for kind in ("users", "groups"):
        entries = acl.get(kind) or {}
        if not isinstance(entries, dict):
            raise ObjectError(f'"acl.{kind}" must map ids to actions or a role name')
        for ident, grant in entries.items():
            count += 1
            if count > MAX_ACL_ENTRIES:
                raise ObjectError(f"an ACL may hold at most {MAX_ACL_ENTRIES} entries")
            if uuid_problem(ident):
                raise ObjectError(f'acl.{kind}: "{ident}" is not a valid UUID')
            key = ident.lower()
            if isinstance(grant, str):
                if grant not in roles:
                    raise ObjectError(
                        f'acl.{kind}.{key}: "{grant}" is not a {resource_type} role '
                        f"({', '.join(sorted(roles))})"
                    )
                out[kind][key] = grant
            elif isinstance(grant, list) and all(isinstance(a, str) for a in grant):
                if bad := sorted(set(grant) - allowed):
                    raise ObjectError(f'acl.{kind}.{key}: {resource_type} has no action "{bad[0]}"')
                out[kind][key] = sorted(set(grant))
            else:
                raise ObjectError(f"acl.{kind}.{key}: expected a list of actions or a role name")
    return out


@dataclass(frozen=True)
class Group:
    """A group of an organization (the Everyone group is implicit: id = the organization's)."""

    id: str
    name: str
    display_name: str
    organization_id: str
    avatar_url: str
    quota_allowance: int
    source: str
    members: tuple[str, ...] = ()

    @property
    def is_everyone(self) -> bool:
        return self.id == self.organization_id

    def obj(self) -> Resource:
        """The group as a policy object: its members may read it (Coder's Group.RBACObject)."""
        return Resource(
            Obj("group", org=self.organization_id, id=self.id),
            acl_groups={self.id: frozenset({"read"})},
        )


class ObjectStore(Protocol):
    """Registered objects and groups, shared by every replica."""

    async def put_object(self, record: ObjectRecord, old: ObjectRecord | None) -> None:
        """Store `record` in place of `old` (the record the caller read, or None)."""
        ...

    async def get_object(self, resource_type: str, resource_id: str) -> ObjectRecord | None: ...

    async def delete_object(self, record: ObjectRecord) -> bool: ...

    async def fetch(
        self, refs: list[tuple[str, str]], user_id: str
    ) -> tuple[dict[tuple[str, str], Resource | None], frozenset[str]]:
        """The objects behind `(type, id)` references (users, groups and registered objects)
        and the groups `user_id` belongs to, in one round trip."""
        ...

    async def groups_of(self, user_id: str) -> frozenset[str]: ...

    async def create_group(self, group: Group) -> bool:
        """False when the organization already has a group of that name."""
        ...

    async def get_group(self, group_id: str) -> Group | None: ...

    async def org_groups(self, org_id: str) -> list[Group]: ...

    async def update_group(
        self, group: Group, old_name: str, add: list[str], remove: list[str]
    ) -> int:
        """1 done, 0 gone, -1 the new name is taken."""
        ...

    async def delete_group(self, group: Group) -> bool: ...

    async def forget_user(self, user_id: str) -> None:
        """Remove a deleted user from every group and ACL."""
        ...

    async def forget_org(self, org_id: str) -> None:
        """Delete an organization's groups and objects."""
        ...
