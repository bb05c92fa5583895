"""POST /authcheck semantics (spec §2.2): validate the batch, then answer every check."""

from __future__ import annotations

import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from service.authz.objects import ObjectStore, Resource
from service.authz.policy import Obj, Policy, RoleSet, load_policy
from service.authz.resources import ResourceTable
from service.authz.scopes import TokenScope
from service.errors import ApiError, Validation

MAX_RESOURCE_IDS: Final = 10
RESOURCE_ID_TYPES: Final = frozenset({"workspace", "template", "user", "group"})
_HEX: Final = frozenset(string.hexdigits)


# Built ten at a time per request: slotted and not frozen (frozen initializers cost more).
@dataclass(slots=True)
class Check:
    """One question of a batch, as the request gave it."""

    action: str
    resource_type: str
    owner_id: str = ""
    organization_id: str = ""
    resource_id: str = ""
    any_org: bool = False


@dataclass(frozen=True)
class Caller:
    """Who asks: the user id, the roles it holds now, and an API token's scope (None:
    a session or a full-access token)."""

    user_id: str
    roles: RoleSet
    scope: TokenScope | None = None


def uuid_error(value: str) -> str | None:
    """google/uuid's Parse error text for `value`, or None when it parses."""
    n = len(value)
    if n == 36:
        body = value
    elif n == 38:
        if value[0] != "{" or value[-1] != "}":
            return "invalid prefix: braces expected"
        body = value[1:-1]
    elif n == 45:
        if value[:9].lower() != "urn:uuid:":
            return f'invalid urn prefix: "{value[:9]}"'
        body = value[9:]
    elif n == 32:
        return None if all(c in _HEX for c in value) else "invalid UUID format"
    else:
        return f"invalid UUID length: {n}"
    if any(body[i] != "-" for i in (8, 13, 18, 23)):
        return "invalid UUID format"
    if not all(c in _HEX for i, c in enumerate(body) if i not in (8, 13, 18, 23)):
        return "invalid UUID format"
    return None


def canonical_uuid(value: str) -> str:
    hex_only = "".join(c for c in value.lower().removeprefix("urn:uuid:") if c in _HEX)
    return f"{hex_only[:8]}-{hex_only[8:12]}-{hex_only[12:16]}-{hex_only[16:20]}-{hex_only[20:32]}"


class PolicyHolder:
    """The running policy; replaced whole on reload, so readers never see a half-loaded one."""

    def __init__(self, config_dir: Path, table: ResourceTable) -> None:
        self.config_dir = config_dir
        self._table = table
        self._lock = threading.Lock()
        self.current: Policy = load_policy(config_dir, table)

    def reload(self) -> Policy:
        """Re-read roles.yaml. Raises ConfigError and keeps the running policy on failure."""
        with self._lock:
            policy = load_policy(self.config_dir, self._table)
            self.current = policy
            return policy


class ResourceResolver:
    """The objects behind `resource_id` checks and the caller's groups, fetched in one round
    trip for everything a batch lacks, and cached in the process for at most `ttl` seconds
    (evicted at once when the change feed says an object, group or membership changed)."""

    MAX_ENTRIES: Final = 10_000

    def __init__(
        self,
        store: ObjectStore,
        ttl: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._monotonic = monotonic
        self._objects: dict[tuple[str, str], tuple[Resource | None, float]] = {}
        self._groups: dict[str, tuple[frozenset[str], float]] = {}
        self.round_trips = 0  # for tests and the benchmark: fetches sent to the store

    async def resolve(
        self, refs: list[tuple[str, str]], user_id: str
    ) -> tuple[dict[tuple[str, str], Resource | None], frozenset[str]]:
        now = self._monotonic()
        found: dict[tuple[str, str], Resource | None] = {}
        missing: list[tuple[str, str]] = []
        for ref in dict.fromkeys(refs):
            cached = self._objects.get(ref)
            if cached is not None and now - cached[1] < self._ttl:
                found[ref] = cached[0]
            else:
                missing.append(ref)
        groups_entry = self._groups.get(user_id)
        if not missing and groups_entry is not None and now - groups_entry[1] < self._ttl:
            return found, groups_entry[0]
        self.round_trips += 1
        fetched, groups = await self._store.fetch(missing, user_id)
        if len(self._objects) + len(fetched) > self.MAX_ENTRIES:
            self._objects.clear()
        if len(self._groups) >= self.MAX_ENTRIES:
            self._groups.clear()
        if self._ttl > 0:
            for ref, resource in fetched.items():
                self._objects[ref] = (resource, now)
            self._groups[user_id] = (groups, now)
        found.update(fetched)
        return found, groups

    def forget(self, kind: str, ident: str) -> None:
        """Change-feed listener: `object` (`type:id`), `group` (id), `groups` (a user id),
        `user` (a user id)."""
        if kind == "object":
            resource_type, _, resource_id = ident.partition(":")
            self._objects.pop((resource_type, resource_id), None)
        elif kind == "group":
            self._objects.pop(("group", ident), None)
        elif kind in ("groups", "user"):
            self._groups.pop(ident, None)
            if kind == "user":
                self._objects.pop(("user", ident), None)


@dataclass(slots=True)
class _Question:
    key: str
    action: str
    obj: Obj
    ref: tuple[str, str] | None


class AuthChecker:
    """Answers authcheck batches for a caller."""

    def __init__(self, policies: PolicyHolder, resolver: ResourceResolver) -> None:
        self._policies = policies
        self._resolver = resolver

    async def answer(self, caller: Caller, checks: Mapping[str, Check]) -> dict[str, bool]:
        """Validate the batch (Coder's 400s) and answer each check. Raises ApiError."""
        answers = self.answer_now(caller, checks)
        if answers is not None:
            return answers
        return await self.answer_in_full(caller, checks)

    def answer_now(self, caller: Caller, checks: Mapping[str, Check]) -> dict[str, bool] | None:
        """`answer` without waiting, for a batch that names no stored object; None for one
        that does (its objects may have to be fetched). Raises ApiError."""
        with_ids = 0
        for check in checks.values():
            if check.resource_id:
                with_ids += 1
        if with_ids > MAX_RESOURCE_IDS:
            raise ApiError(
                400,
                f'Endpoint only supports using "resource_id" field {MAX_RESOURCE_IDS} times, '
                f"found {with_ids} usages. Remove {with_ids - MAX_RESOURCE_IDS} objects with "
                "this field set.",
            )
        if with_ids == 0:
            return self.answer_by_type(caller, checks)
        return None

    def answer_by_type(self, caller: Caller, checks: Mapping[str, Check]) -> dict[str, bool]:
        """The common batch, which names no stored object: each check is decided by the
        caller's roles and its token's scope from the check's fields, with no object built
        per check. The same answers as `answer_in_full` (a property test holds them
        equal)."""
        decide = self._policies.current.subject(caller.roles).allowed_on
        scope = caller.scope
        user_id = caller.user_id
        answers: dict[str, bool] = {}
        for key, check in checks.items():
            if not check.resource_type:
                raise _no_type(key)
            owner = user_id if check.owner_id == "me" else check.owner_id
            answers[key] = decide(
                user_id,
                check.action,
                check.resource_type,
                owner,
                check.organization_id,
                check.any_org,
            ) and (scope is None or scope.allows_type(check.action, check.resource_type))
        return answers

    async def answer_in_full(self, caller: Caller, checks: Mapping[str, Check]) -> dict[str, bool]:
        """Any batch: stored objects (their ACLs, the caller's groups) and token scopes."""
        questions = [_question(caller, key, check) for key, check in checks.items()]
        refs = [q.ref for q in questions if q.ref is not None]
        resources: Mapping[tuple[str, str], Resource | None] = {}
        groups: frozenset[str] = frozenset()
        if refs:
            resources, groups = await self._resolver.resolve(refs, caller.user_id)
        subject = self._policies.current.subject(caller.roles)
        scope = caller.scope
        orgs = frozenset(org for org, _ in caller.roles.orgs)

        def allowed(action: str, obj: Obj, resource: Resource | None = None) -> bool:
            # spec §7.4: allow = (role_allow or acl_allow) and scope_allow.
            role_or_acl = subject.allowed(caller.user_id, action, obj) or (
                resource is not None
                and resource.acl_decision(caller.user_id, orgs, groups, action) != ""
            )
            return role_or_acl and (scope is None or scope.allows(action, obj))

        answers: dict[str, bool] = {}
        for q in questions:
            if q.ref is None:
                answers[q.key] = allowed(q.action, q.obj)
                continue
            resource = resources.get(q.ref)
            # An unknown object is false; the row is fetched with the caller's own
            # permissions, as Coder does, so it must be readable too.
            answers[q.key] = (
                resource is not None
                and allowed("read", resource.obj, resource)
                and allowed(q.action, resource.obj, resource)
            )
        return answers


def _no_type(key: str) -> ApiError:
    return ApiError(400, f'Object\'s "resource_type" field must be defined for key "{key}".')


def _question(caller: Caller, key: str, check: Check) -> _Question:
    """One check validated (Coder's 400s) into its object, and the stored object it names."""
    if not check.resource_type:
        raise _no_type(key)
    owner = caller.user_id if check.owner_id == "me" else check.owner_id
    obj = Obj(check.resource_type, owner, check.organization_id, check.any_org)
    if not check.resource_id:
        return _Question(key, check.action, obj, None)
    if problem := uuid_error(check.resource_id):
        raise ApiError(
            400,
            f'Object "{check.resource_id}" id is not a valid uuid.',
            validations=[Validation("resource_id", problem)],
        )
    if check.resource_type not in RESOURCE_ID_TYPES:
        message = f'Object type "{check.resource_type}" does not support "resource_id" field.'
        raise ApiError(400, message, validations=[Validation("resource_type", message)])
    return _Question(
        key, check.action, obj, (check.resource_type, canonical_uuid(check.resource_id))
    )
