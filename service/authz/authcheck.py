"""POST /authcheck semantics (spec §2.2): validate the batch, then answer every check."""

from __future__ import annotations

import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from service.auth.users import UserStore
from service.authz.policy import Obj, Policy, RoleSet, load_policy
from service.authz.resources import ResourceTable
from service.authz.scopes import TokenScope
from service.errors import ApiError, Validation

MAX_RESOURCE_IDS: Final = 10
RESOURCE_ID_TYPES: Final = frozenset({"workspace", "template", "user", "group"})
_HEX: Final = frozenset(string.hexdigits)


@dataclass(frozen=True)
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


def _canonical_uuid(value: str) -> str:
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


class AuthChecker:
    """Answers authcheck batches for a caller."""

    def __init__(self, policies: PolicyHolder, users: UserStore) -> None:
        self._policies = policies
        self._users = users

    async def answer(self, caller: Caller, checks: Mapping[str, Check]) -> dict[str, bool]:
        """Validate the batch (Coder's 400s) and answer each check. Raises ApiError."""
        with_ids = sum(1 for c in checks.values() if c.resource_id)
        if with_ids > MAX_RESOURCE_IDS:
            raise ApiError(
                400,
                f'Endpoint only supports using "resource_id" field {MAX_RESOURCE_IDS} times, '
                f"found {with_ids} usages. Remove {with_ids - MAX_RESOURCE_IDS} objects with "
                "this field set.",
            )
        policy = self._policies.current
        subject = policy.subject(caller.roles)
        scope = caller.scope

        def allowed(action: str, obj: Obj) -> bool:
            # spec §7.4: allow = role_allow and scope_allow.
            return subject.allowed(caller.user_id, action, obj) and (
                scope is None or scope.allows(action, obj)
            )

        answers: dict[str, bool] = {}
        for key, check in checks.items():
            if not check.resource_type:
                raise ApiError(
                    400, f'Object\'s "resource_type" field must be defined for key "{key}".'
                )
            owner = caller.user_id if check.owner_id == "me" else check.owner_id
            obj = Obj(check.resource_type, owner, check.organization_id, check.any_org)
            if check.resource_id:
                if problem := uuid_error(check.resource_id):
                    raise ApiError(
                        400,
                        f'Object "{check.resource_id}" id is not a valid uuid.',
                        validations=[Validation("resource_id", problem)],
                    )
                if check.resource_type not in RESOURCE_ID_TYPES:
                    message = (
                        f'Object type "{check.resource_type}" does not support "resource_id" field.'
                    )
                    raise ApiError(400, message, validations=[Validation("resource_type", message)])
                resolved = await self._resolve(check.resource_type, check.resource_id)
                if resolved is None:
                    answers[key] = False  # an object this service does not know
                    continue
                # The row is fetched with the caller's own permissions, as Coder does.
                if not allowed("read", resolved):
                    answers[key] = False
                    continue
                obj = resolved
            answers[key] = (
                subject.allowed(caller.user_id, check.action, obj)
                if scope is None
                else allowed(check.action, obj)
            )
        return answers

    async def _resolve(self, resource_type: str, resource_id: str) -> Obj | None:
        """The real object behind a resource_id; only users are stored by this service."""
        if resource_type != "user":
            return None
        user_id = _canonical_uuid(resource_id)
        if await self._users.get(user_id) is None:
            return None
        return Obj("user", owner=user_id, id=user_id)
