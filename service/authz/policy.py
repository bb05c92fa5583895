"""The role policy: YAML role definitions compiled into an immutable Policy, and its evaluator.

Evaluation follows Coder's policy.rego (spec §7.4): each of the site, org and user levels is
-1 (a matching deny), +1 (a matching allow) or 0; a deny blocks the levels below it; a
user-level allow needs organization membership when the object has an organization.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from service.authz.config import ConfigError, load_yaml
from service.authz.resources import WILDCARD, ResourceTable

MEMBER: Final = "member"
ORG_MEMBER: Final = "organization-member"
NIL_UUID: Final = "00000000-0000-0000-0000-000000000000"
LEVELS: Final = ("site", "org", "user")
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

Perm = tuple[str, str]  # (resource type, action), either may be "*"


@dataclass(frozen=True)
class PermSet:
    """Allows and denies of one level; `value` is the level's -1/0/+1 for a question."""

    allow: frozenset[Perm] = frozenset()
    deny: frozenset[Perm] = frozenset()

    def value(self, resource: str, action: str) -> int:
        """-1 if a deny matches, else +1 if an allow matches, else 0."""
        keys = ((resource, action), (resource, WILDCARD), (WILDCARD, action), (WILDCARD, WILDCARD))
        if self.deny and any(k in self.deny for k in keys):
            return -1
        return 1 if any(k in self.allow for k in keys) else 0

    def __or__(self, other: PermSet) -> PermSet:
        return PermSet(self.allow | other.allow, self.deny | other.deny)


EMPTY: Final = PermSet()


@dataclass(frozen=True)
class Role:
    """One compiled role."""

    name: str
    display_name: str
    kind: Literal["site", "organization"]
    site: PermSet
    org: PermSet
    user: PermSet
    # The roles a holder of this role may assign and unassign (Coder's rbac.CanAssignRole).
    assigns: frozenset[str] = frozenset()

    def level(self, name: str) -> PermSet:
        """The permissions of one level."""
        perms: PermSet = getattr(self, name)
        return perms


@dataclass(frozen=True, slots=True)
class Obj:
    """The object of a question (spec §2.2): type, owner, organization, any_org, and the
    object's id (only a token's allow-list looks at it)."""

    type: str
    owner: str = ""
    org: str = ""
    any_org: bool = False
    id: str = ""


@dataclass(frozen=True)
class Explanation:
    """Why a question got its answer."""

    allowed: bool
    level: str  # "site", "org", "user", or "none"
    roles: tuple[str, ...]
    reason: str


class Subject:
    """A role set compiled for evaluation; shared by every user holding the same roles.

    Decisions are memoized per question shape (action, type, owned-by-caller, org, any_org),
    so a running service answers a repeated question with one dictionary lookup. The memo is
    bounded: questions naming many distinct organizations cannot grow it without limit.
    """

    __slots__ = ("_memo", "org_perms", "orgs", "site", "user")
    MEMO_LIMIT: Final = 65536

    def __init__(self, site: PermSet, user: PermSet, org_perms: Mapping[str, PermSet]) -> None:
        self.site = site
        self.user = user
        self.org_perms = dict(org_perms)
        self.orgs = frozenset(org_perms)
        self._memo: dict[tuple[str, str, bool, str, bool], bool] = {}

    def allowed(self, subject_id: str, action: str, obj: Obj) -> bool:
        """The decision for `subject_id` holding these roles (spec §7.4, scope `coder:all`)."""
        return self.allowed_on(subject_id, action, obj.type, obj.owner, obj.org, obj.any_org)

    def allowed_on(
        self, subject_id: str, action: str, type_: str, owner: str, org: str, any_org: bool
    ) -> bool:
        """`allowed` for an object given field by field (no Obj built: authcheck's hot path)."""
        key = (action, type_, bool(owner) and owner == subject_id, org, any_org)
        decision = self._memo.get(key)
        if decision is None:
            if len(self._memo) >= self.MEMO_LIMIT:
                self._memo.clear()
            decision = self._memo[key] = self._decide(*key)
        return decision

    def _decide(self, action: str, t: str, owned: bool, org_id: str, any_org: bool) -> bool:
        if any_org and org_id and org_id != NIL_UUID:
            return False  # Coder's authorizer errors on any_org with an organization
        site = self.site.value(t, action)
        if site == 1:
            return True
        if site == -1:
            return False
        if any_org:
            # At least one org grants it; denials in other orgs are ignored.
            org = 1 if any(p.value(t, action) == 1 for p in self.org_perms.values()) else 0
            org_ok = bool(self.orgs)
        elif org_id:
            perms = self.org_perms.get(org_id)
            org = perms.value(t, action) if perms is not None else 0
            org_ok = perms is not None
        else:
            org, org_ok = 0, True
        if org == 1:
            return True
        # A user-level allow needs the caller to own the object and to be in its org.
        return org != -1 and org_ok and owned and self.user.value(t, action) == 1


@dataclass(frozen=True)
class RoleSet:
    """What a user holds: site roles and org id -> org roles (implicit roles added later)."""

    site: frozenset[str]
    orgs: tuple[tuple[str, frozenset[str]], ...]

    @staticmethod
    def of(site_roles: Iterable[str], orgs: Mapping[str, Iterable[str]]) -> RoleSet:
        """Normalize a user's roles into a hashable key."""
        return RoleSet(
            frozenset(site_roles),
            tuple(sorted((org, frozenset(roles)) for org, roles in orgs.items())),
        )


@dataclass
class Policy:
    """An immutable set of roles with a version; compiles subjects (cached by role set)."""

    roles: Mapping[str, Role]
    version: str
    cache_size: int = 4096
    _cache: OrderedDict[RoleSet, Subject] = field(default_factory=OrderedDict, repr=False)

    def subject(self, role_set: RoleSet) -> Subject:
        """The compiled subject for a role set. Unknown role names grant nothing."""
        compiled = self._cache.get(role_set)
        if compiled is not None:
            self._cache.move_to_end(role_set)
            return compiled
        site = EMPTY
        user = EMPTY
        for name in (*role_set.site, MEMBER):
            role = self.roles.get(name)
            if role is not None and role.kind == "site":
                site, user = site | role.site, user | role.user
        org_perms: dict[str, PermSet] = {}
        for org, names in role_set.orgs:
            perms = EMPTY
            for name in (*names, ORG_MEMBER):
                role = self.roles.get(name)
                if role is not None and role.kind == "organization":
                    perms = perms | role.org
                    site, user = site | role.site, user | role.user
            org_perms[org] = perms
        compiled = Subject(site, user, org_perms)
        self._cache[role_set] = compiled
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return compiled

    def can_assign(self, role_set: RoleSet, role: str, org_id: str | None) -> bool:
        """Whether a holder of `role_set` may assign or unassign `role` (site-wide when
        `org_id` is None, else in that organization): Coder's rbac.CanAssignRole. Site roles
        count everywhere; an organization role only in its own organization."""
        held = [*role_set.site, MEMBER]
        memberships = dict(role_set.orgs)
        if org_id is not None and org_id in memberships:
            held += [*memberships[org_id], ORG_MEMBER]
        return any(role in r.assigns for n in held if (r := self.roles.get(n)) is not None)

    def explain(self, role_set: RoleSet, subject_id: str, action: str, obj: Obj) -> Explanation:
        """The decision plus the level and roles that made it (slow path, for operators)."""
        allowed = self.subject(role_set).allowed(subject_id, action, obj)
        if obj.any_org and obj.org and obj.org != NIL_UUID:
            return Explanation(False, "none", (), "any_org cannot be combined with organization_id")
        held: list[tuple[str, str | None]] = [(n, None) for n in (*role_set.site, MEMBER)]
        for org, names in role_set.orgs:
            held += [(n, org) for n in (*names, ORG_MEMBER)]

        def matching(level: str, want: int, org_filter: str | None = None) -> tuple[str, ...]:
            out = []
            for name, org in held:
                role = self.roles.get(name)
                if role is None:
                    continue
                if level == "org" and (org is None or (org_filter and org != org_filter)):
                    continue
                if role.level(level).value(obj.type, action) == want:
                    out.append(name if org is None else f"{name}:{org}")
            return tuple(dict.fromkeys(out))

        for level in LEVELS:
            org_filter = obj.org if level == "org" and not obj.any_org else None
            if level == "org" and not (obj.org or obj.any_org):
                continue
            if level == "user" and (not obj.owner or obj.owner != subject_id):
                continue
            if denied := matching(level, -1, org_filter):
                if level == "org" and obj.any_org:
                    continue  # any_org ignores denials in other orgs
                return Explanation(False, level, denied, f"denied at the {level} level")
            if allowed and (granted := matching(level, 1, org_filter)):
                return Explanation(True, level, granted, f"allowed at the {level} level")
        reason = "no role grants this" if not allowed else "allowed"
        if not allowed and obj.org and obj.org not in dict(role_set.orgs) and obj.owner:
            reason = "the subject is not a member of the object's organization"
        return Explanation(allowed, "none", (), reason)


def _entry_perms(entry: Any, table: ResourceTable, where: str) -> tuple[bool, list[Perm]]:
    """Parse one permission entry into (negated, perms). Raises ConfigError naming `where`."""
    if isinstance(entry, Mapping):
        unknown = set(entry) - {"all_except", "actions"}
        if unknown or "all_except" not in entry or "actions" not in entry:
            raise ConfigError(f"{where}: a mapping needs exactly `all_except` and `actions`")
        excluded, actions = entry["all_except"], entry["actions"]
        if not isinstance(excluded, list) or not isinstance(actions, list) or not actions:
            raise ConfigError(f"{where}: `all_except` and `actions` must be lists")
        for resource in excluded:
            if resource not in table.resources or resource == WILDCARD:
                raise ConfigError(f"{where}: unknown resource type {resource!r} in all_except")
        perms = []
        for resource in table.resources:
            if resource == WILDCARD or resource in excluded:
                continue
            perms += _actions(resource, [str(a) for a in actions], table, where)
        return False, perms
    if not isinstance(entry, str):
        raise ConfigError(f"{where}: expected 'resource:action' or an all_except mapping")
    negated = entry.startswith("!")
    resource, sep, actions_text = entry.removeprefix("!").partition(":")
    if not sep or not resource or not actions_text:
        raise ConfigError(f"{where}: {entry!r} is not of the form [!]resource:action[,action...]")
    if resource not in table.resources:
        raise ConfigError(f"{where}: unknown resource type {resource!r}")
    return negated, _actions(resource, actions_text.split(","), table, where)


def _actions(resource: str, actions: Sequence[str], table: ResourceTable, where: str) -> list[Perm]:
    perms: list[Perm] = []
    for action in actions:
        action = action.strip()
        if action == "all":
            if resource == WILDCARD:
                raise ConfigError(f"{where}: `all` needs a concrete resource type, not `*`")
            perms += [(resource, a) for a in sorted(table.resources[resource])]
        elif (
            action == WILDCARD
            or action in table.resources[resource]
            or (resource == WILDCARD and action in table.actions)
        ):
            perms.append((resource, action))
        else:
            raise ConfigError(f"{where}: resource type {resource!r} has no action {action!r}")
    return perms


def compile_roles(data: Any, table: ResourceTable, source: str) -> dict[str, Role]:
    """Validate the parsed roles file and compile it. Raises ConfigError naming the entry."""
    if (
        not isinstance(data, Mapping)
        or set(data) != {"roles"}
        or not isinstance(data["roles"], list)
    ):
        raise ConfigError(f"{source}: expected a mapping with one key, `roles`, holding a list")
    roles: dict[str, Role] = {}
    for index, spec in enumerate(data["roles"]):
        where = f"{source}: roles[{index}]"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: a role must be a mapping")
        name = spec.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: `name` must be lower-case words joined by hyphens")
        where = f"{source}: role {name!r}"
        unknown = set(spec) - {"name", "display_name", "kind", "assigns", *LEVELS}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        if name in roles:
            raise ConfigError(f"{where}: duplicate role")
        kind = spec.get("kind")
        if kind not in ("site", "organization"):
            raise ConfigError(f"{where}: `kind` must be `site` or `organization`")
        if kind == "site" and spec.get("org"):
            raise ConfigError(f"{where}: a site role cannot have `org` permissions")
        levels: dict[str, PermSet] = {}
        for level in LEVELS:
            entries = spec.get(level) or []
            if not isinstance(entries, list):
                raise ConfigError(f"{where}: `{level}` must be a list")
            allow: set[Perm] = set()
            deny: set[Perm] = set()
            for i, entry in enumerate(entries):
                negated, perms = _entry_perms(entry, table, f"{where} {level}[{i}] {entry!r}")
                (deny if negated else allow).update(perms)
            levels[level] = PermSet(frozenset(allow), frozenset(deny))
        assigns = spec.get("assigns") or []
        if not isinstance(assigns, list) or not all(isinstance(a, str) for a in assigns):
            raise ConfigError(f"{where}: `assigns` must be a list of role names")
        roles[name] = Role(
            name=name,
            display_name=str(spec.get("display_name") or name),
            kind=kind,
            site=levels["site"],
            org=levels["org"],
            user=levels["user"],
            assigns=frozenset(assigns),
        )
    for required in (MEMBER, ORG_MEMBER):
        if required not in roles:
            raise ConfigError(f"{source}: the implicit role {required!r} must be defined")
    for role in roles.values():
        if unknown_names := sorted(role.assigns - set(roles)):
            raise ConfigError(
                f"{source}: role {role.name!r} assigns undefined role(s) {', '.join(unknown_names)}"
            )
    return roles


def load_policy(config_dir: Path, table: ResourceTable) -> Policy:
    """Load roles.yaml (validated against the resource table). Raises ConfigError."""
    path = config_dir / "roles.yaml"
    roles = compile_roles(load_yaml(path), table, str(path))
    digest = hashlib.sha256()
    for name in ("resources.yaml", "roles.yaml"):
        digest.update((config_dir / name).read_bytes())
    return Policy(roles=roles, version=digest.hexdigest()[:12])
