"""User and organization administration: Coder's admin endpoints as domain operations.

The HTTP handlers (api/admin.py) and the command line (`authsvc users ...`) call these, so both
validate, authorize, audit and publish alike. Every operation is authorized by the running
policy on the object it touches, as Coder's dbauthz layer does; the command line acts as the
system (allowed everything), but keeps every guard rail: nobody removes the last owner.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Protocol, TypeVar, cast

from service.auth.passwords import MalformedHash, Passwords
from service.auth.policy import check_password
from service.auth.ratelimit import RateLimiter, go_duration
from service.auth.sessions import SessionManager
from service.auth.userquery import Page, UserFilter, paginate
from service.auth.users import (
    LOGIN_TYPES,
    MEMBER,
    ORG_MEMBER,
    OWNER,
    STATUSES,
    LastOwner,
    LoginType,
    NewUser,
    Organization,
    OrganizationExists,
    StaleUser,
    User,
    UserDirectory,
    UserExists,
    UserStatus,
    UserStore,
)
from service.authz.authcheck import PolicyHolder
from service.authz.policy import NIL_UUID, Obj, Role, RoleSet
from service.authz.scopes import TokenScope
from service.clock import Clock, rfc3339
from service.errors import ApiError, Validation, forbidden, not_found

log = logging.getLogger(__name__)

LAST_OWNER: Final = "The deployment must keep at least one owner."
DEFAULT_ORG_REF: Final = "default"


class Cascade(Protocol):
    """What else holds a user or an organization (groups, registered objects)."""

    async def forget_user(self, user_id: str) -> None: ...

    async def forget_org(self, org_id: str) -> None: ...


class AuditTrail(Protocol):
    """Where administrative changes are recorded."""

    async def append(self, event: Mapping[str, str]) -> None: ...


class AdminUserStore(UserStore, Protocol):
    """The user store's writes that keep indexes and memberships consistent (one step each)."""

    async def set_site_roles(
        self, user_id: str, roles: tuple[str, ...], now: float, *, keeps_owner: bool
    ) -> bool:
        """Raises LastOwner."""
        ...

    async def add_membership(
        self, user_id: str, org_id: str, roles: tuple[str, ...], now: float
    ) -> int: ...

    async def set_membership_roles(
        self, user: User, org_id: str, roles: tuple[str, ...], now: float
    ) -> int: ...

    async def remove_membership(self, user_id: str, org_id: str) -> bool: ...

    async def update_profile(self, user: User, username: str, name: str, now: float) -> bool:
        """Raises UserExists, StaleUser."""
        ...

    async def delete(self, user: User) -> bool:
        """Raises LastOwner, StaleUser."""
        ...


class OrgStore(Protocol):
    """Organization records."""

    async def default_org(self, now: float) -> Organization: ...

    async def create(self, org: Organization) -> None:
        """Raises OrganizationExists."""
        ...

    async def get(self, org_id: str) -> Organization | None: ...

    async def by_name(self, name: str) -> Organization | None: ...

    async def all(self) -> list[Organization]: ...

    async def update(self, org: Organization, **fields: Any) -> bool | None:
        """Raises OrganizationExists."""
        ...

    async def delete(self, org: Organization, member_ids: list[str]) -> int: ...


class CodeStore(Protocol):
    """One-time passcodes."""

    async def forget(self, user_id: str) -> None:
        """Drop every live code of the user."""
        ...


@dataclass(frozen=True)
class Operator:
    """Who performs an operation: a signed-in user, or the system (the command line).

    `source` goes into every audit record (the client address and request id, or `cli`)."""

    user_id: str
    roles: RoleSet | None
    source: Mapping[str, str] = field(default_factory=dict)
    # An API token's scope narrows everything the operator may do (None: no narrowing).
    scope: TokenScope | None = None

    @property
    def is_system(self) -> bool:
        return self.roles is None


SYSTEM: Final = Operator("", None, {"via": "cli"})


@dataclass(frozen=True)
class AdminPolicy:
    """Settings the operations follow."""

    disable_password_auth: bool
    oidc_configured: bool
    old_password_limit: int
    old_password_window: float


@dataclass(frozen=True)
class CreateUser:
    """codersdk.CreateUserRequestWithOrgs, bound."""

    email: str
    username: str
    name: str = ""
    password: str = ""
    login_type: str = ""
    user_status: str | None = None
    organization_ids: tuple[str, ...] = ()
    # The command line's extras: site roles, organization roles (by organization id) and an
    # imported hash (a migration keeps its users' passwords; strength was checked back then).
    roles: tuple[str, ...] = ()
    org_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hashed_password: str = ""


T = TypeVar("T")
MemberRoute = Literal["add", "remove", "roles", "read"]
# A request body, read only when the operation gets to it (Coder reads bodies after some
# checks, and the order decides which error a bad request gets).
Body = Callable[[], Awaitable[T]]


def given(value: T) -> Body[T]:
    """A body that is already at hand (the command line)."""

    async def body() -> T:
        return value

    return body


def user_obj(user_id: str) -> Obj:
    """The `user` object a user is (owned by itself)."""
    return Obj("user", owner=user_id, id=user_id)


def unknown_user(ref: str) -> ApiError:
    """Coder's answer to a `{user}` it cannot find (or may not read)."""
    return ApiError(400, '"user" must be an existing uuid or username.', f'queried user="{ref}"')


def member_obj(org_id: str, user_id: str) -> Obj:
    return Obj("organization_member", owner=user_id, org=org_id, id=user_id)


def role_identifier(name: str, org_id: str | None) -> str:
    """rbac.RoleIdentifier.String(): `name`, or `name:<org id>` for an organization role."""
    return f"{name}:{org_id}" if org_id else name


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)},
        sort_keys=True,
    )


class Administration:
    """The administrative operations over users, organizations and memberships."""

    def __init__(
        self,
        users: AdminUserStore,
        orgs: OrgStore,
        directory: UserDirectory,
        sessions: SessionManager | None,
        codes: CodeStore,
        passwords: Passwords,
        policies: PolicyHolder,
        audit: AuditTrail,
        limiter: RateLimiter | None,
        policy: AdminPolicy,
        clock: Clock,
    ) -> None:
        self._users = users
        self._orgs = orgs
        self._directory = directory
        self._sessions = sessions
        self._codes = codes
        self._passwords = passwords
        self._policies = policies
        self._audit = audit
        self._limiter = limiter
        self._policy = policy
        self._clock = clock
        self._cascades: list[Cascade] = []

    # -- authorization -------------------------------------------------------------------

    def policy_roles(self) -> Mapping[str, Role]:
        """The running policy's roles (for rendering role names)."""
        return self._policies.current.roles

    def cascade_to(self, cascade: Cascade) -> None:
        """Have deletions of users and organizations reach `cascade` too."""
        self._cascades.append(cascade)

    async def record(self, op: Operator, event: str, **fields: str) -> None:
        """Write an audit record for `op` (for the services built on this one)."""
        await self._record(op, event, **fields)

    def can(self, op: Operator, action: str, obj: Obj) -> bool:
        """The policy's answer for the operator (the system may do everything)."""
        if op.roles is None:
            return True
        if op.scope is not None and not op.scope.allows(action, obj):
            return False
        return self._policies.current.subject(op.roles).allowed(op.user_id, action, obj)

    def _may_assign(self, op: Operator, role: str, org_id: str | None) -> bool:
        return op.roles is None or self._policies.current.can_assign(op.roles, role, org_id)

    def _role(self, name: str, kind: str) -> Role | None:
        role = self._policies.current.roles.get(name)
        return role if role is not None and role.kind == kind else None

    def _check_assignment(
        self, op: Operator, added: Sequence[str], removed: Sequence[str], org_id: str | None
    ) -> None:
        """Coder's dbauthz canAssignRoles: known roles of the right kind (400), the assign and
        unassign permissions (403), and the assignability of each changed role (403)."""
        kind = "organization" if org_id else "site"
        for name in (*added, *removed):
            if self._role(name, kind) is None:
                raise ApiError(400, f'"{role_identifier(name, org_id)}" is not a supported role')
        obj = Obj("assign_org_role", org=org_id) if org_id else Obj("assign_role")
        if added and not self.can(op, "assign", obj):
            raise forbidden()
        if removed and not self.can(op, "unassign", obj):
            raise forbidden()
        if not all(self._may_assign(op, name, org_id) for name in (*added, *removed)):
            raise forbidden()

    async def _record(self, op: Operator, event: str, **fields: str) -> None:
        record = {
            "time": f"{time.time():.3f}",
            "event": event,
            "outcome": "success",
            "actor": op.user_id or "system",
            **op.source,
            **fields,
        }
        await self._audit.append(record)
        log.info("admin: %s", event, extra={"user_id": op.user_id or "system"})

    # -- users ---------------------------------------------------------------------------

    async def resolve_user(self, op: Operator, ref: str, *, as_system: bool = False) -> User:
        """Coder's `{user}` path parameter: `me`, a UUID or a username. Unless `as_system`,
        a user the operator may not read is answered as if it did not exist."""
        if ref == "":
            raise ApiError(400, '"user" must be provided.')
        user = await self._directory.by_param(op.user_id if ref == "me" else ref)
        if user is None or not (as_system or self.can(op, "read", user_obj(user.id))):
            raise unknown_user(ref)
        return user

    async def list_users(
        self, op: Operator, query: UserFilter, page: Page
    ) -> tuple[list[User], int]:
        """GET /users: the users the operator may read that match, and how many match."""
        everyone = await self._users.all()
        visible = [u for u in everyone if self.can(op, "read", user_obj(u.id)) and query.matches(u)]
        anchor = next((u for u in everyone if u.id == page.after_id), None)
        return paginate(visible, page, anchor)

    async def create_user(self, op: Operator, req: CreateUser) -> User:
        """POST /users, in Coder's order of checks."""
        login_type = req.login_type or "password"
        if login_type != "password" and req.password:
            raise ApiError(
                400, f'Password cannot be set for non-password ("{login_type}") authentication.'
            )
        if self._policy.disable_password_auth and login_type == "password":
            raise ApiError(
                403,
                "Password based authentication is disabled! Unable to provision new users with "
                "password authentication.",
            )
        if not req.organization_ids:
            raise ApiError(
                400,
                "No organization specified to place the user as a member of. It is required "
                "to specify at least one organization id to place the user in.",
                "required at least 1 value for the array 'organization_ids'",
                [Validation("organization_ids", "Missing values, this cannot be empty")],
            )
        denied = ApiError(403, "You are not authorized to create users.")
        # Checked before any lookup, so that a caller who may not create users learns nothing
        # about which ones exist.
        if not (
            self.can(op, "create", Obj("user"))
            and self.can(op, "assign", Obj("assign_role"))
            and self._may_assign(op, MEMBER, None)
        ):
            raise denied
        if (
            await self._users.by_email(req.email) is not None
            or await self._users.by_username(req.username) is not None
        ):
            raise ApiError(409, "User already exists.")
        org_ids: list[str] = []
        for raw in req.organization_ids:
            org_id = str(uuid.UUID(raw))
            if org_id == NIL_UUID:
                org_id = (await self._orgs.default_org(self._clock())).id
            elif await self._orgs.get(org_id) is None:
                raise ApiError(404, f'Organization does not exist with the provided id "{raw}".')
            org_ids.append(org_id)
        if req.user_status is not None and req.user_status not in STATUSES:
            raise ApiError(
                400,
                "Validation failed.",
                validations=[Validation("user_status", f'"{req.user_status}" is not a status')],
            )
        # The command line may provision a password account without one (its owner sets it
        # with a one-time passcode); over HTTP a password user needs a strong password.
        no_password_yet = op.is_system and not req.password
        if login_type == "password" and not req.hashed_password and not no_password_yet:
            if problem := check_password(req.password):
                raise ApiError(
                    400,
                    "Password not strong enough!",
                    validations=[Validation("password", problem)],
                )
        elif login_type == "oidc" and not self._policy.oidc_configured:
            raise ApiError(400, "You must configure OIDC before creating OIDC users.")
        elif login_type not in LOGIN_TYPES:
            raise ApiError(
                400, f'Unsupported login type "{login_type}" for manually creating new users.'
            )
        for org_id in org_ids:
            if not (
                self.can(op, "assign", Obj("assign_org_role", org=org_id))
                and self._may_assign(op, ORG_MEMBER, org_id)
                and self.can(op, "create", Obj("organization_member", org=org_id))
            ):
                raise denied
            self._check_assignment(op, req.org_roles.get(org_id, ()), (), org_id)
        self._check_assignment(op, [r for r in req.roles if r != MEMBER], (), None)
        hashed = req.hashed_password
        if req.password:
            hashed = await self._passwords.hash(req.password)
        status: UserStatus = req.user_status or "dormant"
        try:
            user = await self._directory.create(
                NewUser(
                    email=req.email,
                    username=req.username,
                    name=req.name,
                    hashed_password=hashed,
                    login_type=cast(LoginType, login_type),
                    status=status,
                    roles=req.roles,
                    orgs={org_id: req.org_roles.get(org_id, ()) for org_id in org_ids},
                )
            )
        except UserExists:
            raise ApiError(409, "User already exists.") from None
        assert user is not None
        await self._record(
            op,
            "user_created",
            user_id=user.id,
            changes=_changes(
                {},
                {
                    "email": user.email,
                    "username": user.username,
                    "login_type": user.login_type,
                    "status": user.status,
                    "organization_ids": sorted(user.orgs),
                },
            ),
        )
        return user

    async def delete_user(self, op: Operator, user: User) -> None:
        """DELETE /users/{user}: the record, its memberships, indexes, sessions and codes."""
        if user.id == op.user_id:
            raise ApiError(403, "You cannot delete yourself!")
        if not self.can(op, "delete", user_obj(user.id)):
            raise forbidden()
        # Deleting an owner takes what unassigning the role takes.
        if OWNER in user.roles and not self._may_assign(op, OWNER, None):
            raise forbidden()
        for _ in range(3):
            try:
                if not await self._users.delete(user):
                    raise not_found()
                break
            except StaleUser:
                fresh = await self._users.get(user.id)
                if fresh is None:
                    raise not_found() from None
                user = fresh
            except LastOwner:
                raise ApiError(400, LAST_OWNER) from None
        else:
            raise ApiError(409, "The user changed while it was being deleted; try again.")
        if self._sessions is not None:
            await self._sessions.revoke_all(user.id)
        await self._codes.forget(user.id)
        for cascade in self._cascades:
            await cascade.forget_user(user.id)
        await self._record(
            op, "user_deleted", user_id=user.id, changes=_changes({"username": user.username}, {})
        )

    async def update_profile(self, op: Operator, user: User, username: str, name: str) -> User:
        """PUT /users/{user}/profile: username (unique, case-insensitively) and name."""
        if not self.can(op, "update_personal", user_obj(user.id)):
            raise forbidden()
        taken = ApiError(
            409,
            "A user with this username already exists.",
            validations=[Validation("username", "This username is already in use.")],
        )
        holder = await self._users.by_username(username)
        if holder is not None and holder.id != user.id:
            raise taken
        now = self._clock()
        for _ in range(3):
            try:
                if not await self._users.update_profile(user, username, name, now):
                    raise not_found()
                break
            except UserExists:
                raise taken from None
            except StaleUser:
                fresh = await self._users.get(user.id)
                if fresh is None:
                    raise not_found() from None
                user = fresh
        else:
            raise ApiError(409, "The user changed while it was being updated; try again.")
        updated = replace(user, username=username, name=name, updated_at=now)
        await self._record(
            op,
            "user_profile_updated",
            user_id=user.id,
            changes=_changes(
                {"username": user.username, "name": user.name},
                {"username": username, "name": name},
            ),
        )
        return updated

    async def set_status(self, op: Operator, user: User, status: UserStatus) -> User:
        """PUT /users/{user}/status/suspend|activate; takes effect on every replica at once."""
        if status == "suspended":
            if user.id == op.user_id:
                raise ApiError(400, "You cannot suspend yourself.")
            if OWNER in user.roles:
                raise ApiError(
                    400,
                    f'You cannot suspend a user with the "{OWNER}" role. You must remove the '
                    "role first.",
                )
        if not self.can(op, "update", user_obj(user.id)):
            raise forbidden()
        now = self._clock()
        await self._users.update(user.id, status=status, updated_at=now)
        await self._record(
            op,
            "user_suspended" if status == "suspended" else "user_activated",
            user_id=user.id,
            changes=_changes({"status": user.status}, {"status": status}),
        )
        return replace(user, status=status, updated_at=now)

    async def _old_password_budget(self, user_id: str, record: bool) -> None:
        if self._limiter is None or self._policy.old_password_limit < 0:
            return
        window = self._policy.old_password_window
        budget = await self._limiter.hit(
            f"old-password|{user_id}",
            [("failures", self._policy.old_password_limit)],
            window,
            record=record,
        )
        if not budget.allowed:
            raise ApiError(
                429,
                f"You've been rate limited for sending more than {budget.limit} incorrect old "
                f"passwords for this account in {go_duration(window)}.",
                headers={"Retry-After": str(budget.retry_after)},
            )

    async def _verify(self, stored: str, password: str) -> bool:
        if not stored:
            return False
        try:
            return (await self._passwords.verify(stored, password)).ok
        except MalformedHash:
            return False

    async def change_password(self, op: Operator, user: User, body: Body[tuple[str, str]]) -> None:
        """PUT /users/{user}/password with (old, new): every session of the user ends."""
        if not self.can(op, "update_personal", user_obj(user.id)):
            raise not_found()
        old, new = await body()
        if user.login_type != "password":
            raise ApiError(400, "Users without password login type cannot change their password.")
        if user.id == op.user_id and old == "":
            raise ApiError(400, "Old password is required.")
        if problem := check_password(new):
            raise ApiError(400, "Invalid password.", validations=[Validation("password", problem)])
        if old:
            # A signed-in session must not become an unlimited password oracle.
            await self._old_password_budget(user.id, record=False)
            if not await self._verify(user.hashed_password, old):
                await self._old_password_budget(user.id, record=True)
                raise ApiError(
                    400,
                    "Old password is incorrect.",
                    validations=[Validation("old_password", "Old password is incorrect.")],
                )
        if await self._verify(user.hashed_password, new):
            raise ApiError(400, "New password cannot match old password.")
        hashed = await self._passwords.hash(new)
        now = self._clock()
        await self._users.update(
            user.id, hashed_password=hashed, sessions_valid_after=now, updated_at=now
        )
        if self._sessions is not None:
            await self._sessions.revoke_all(user.id)
        await self._record(op, "user_password_changed", user_id=user.id, changes="{}")

    def user_roles(self, op: Operator, user: User) -> dict[str, Any]:
        """GET /users/{user}/roles (codersdk.UserRoles)."""
        if not self.can(op, "read_personal", user_obj(user.id)):
            raise not_found()
        return {
            "roles": list(user.roles),
            "organization_roles": {org: list(roles) for org, roles in sorted(user.orgs.items())},
        }

    async def set_site_roles(self, op: Operator, user: User, body: Body[Sequence[str]]) -> User:
        """PUT /users/{user}/roles: the whole set of site roles."""
        if user.id == op.user_id:
            raise ApiError(400, "You cannot change your own roles.")
        roles = await body()
        wanted = {*roles, MEMBER}
        current = {*user.roles, MEMBER}
        added = sorted(wanted - current)
        removed = sorted(current - wanted)
        self._check_assignment(op, added, removed, None)
        new_roles = tuple(sorted(set(roles)))
        now = self._clock()
        try:
            found = await self._users.set_site_roles(
                user.id, new_roles, now, keeps_owner=OWNER in new_roles
            )
        except LastOwner:
            raise ApiError(400, LAST_OWNER) from None
        if not found:
            raise not_found()
        await self._record(
            op,
            "user_roles_changed",
            user_id=user.id,
            changes=_changes({"roles": sorted(user.roles)}, {"roles": list(new_roles)}),
        )
        return replace(user, roles=new_roles, updated_at=now)

    async def user_orgs(self, op: Operator, user: User) -> list[Organization]:
        """GET /users/{user}/organizations: those of the user's the operator may read."""
        orgs = [o for o in await self._orgs.all() if o.id in user.orgs]
        return [o for o in orgs if self.can(op, "read", Obj("organization", org=o.id, id=o.id))]

    def assignable_roles(self, op: Operator, org_id: str | None) -> list[dict[str, Any]]:
        """GET /users/roles (site) or /organizations/{org}/members/roles: every role of the
        kind except the implicit one, each with whether the operator may assign it."""
        if org_id is None:
            if not self.can(op, "read", Obj("assign_role")):
                raise forbidden()
        elif not self.can(op, "read", Obj("assign_org_role", org=org_id)):
            raise not_found()
        kind, implicit = ("organization", ORG_MEMBER) if org_id else ("site", MEMBER)
        out = []
        for role in self._policies.current.roles.values():
            if role.kind != kind or role.name == implicit:
                continue
            out.append(
                {
                    **role_api(role, org_id),
                    "assignable": self._may_assign(op, role.name, org_id),
                    "built_in": True,
                }
            )
        return out

    # -- organizations -------------------------------------------------------------------

    async def org_by_id(self, org_id: str) -> Organization | None:
        """An organization by id, as the system sees it."""
        return await self._orgs.get(org_id)

    async def resolve_org(self, op: Operator, ref: str) -> Organization:
        """Coder's `{organization}` parameter: `default`, a UUID or a name; an organization
        the operator may not read is not found."""
        if ref == "":
            raise ApiError(400, '"organization" must be provided.')
        org: Organization | None
        if ref in (DEFAULT_ORG_REF, NIL_UUID):
            org = await self._orgs.default_org(self._clock())
        else:
            try:
                org = await self._orgs.get(str(uuid.UUID(ref)))
            except ValueError:
                org = await self._orgs.by_name(ref)
        if org is None or not self.can(op, "read", Obj("organization", org=org.id, id=org.id)):
            raise not_found()
        return org

    async def list_orgs(self, op: Operator) -> list[Organization]:
        """GET /organizations: those the operator may read."""
        await self._orgs.default_org(self._clock())
        return [
            o
            for o in await self._orgs.all()
            if self.can(op, "read", Obj("organization", org=o.id, id=o.id))
        ]

    async def create_org(
        self, op: Operator, name: str, display_name: str, description: str, icon: str
    ) -> Organization:
        """POST /organizations; the creator becomes a member."""
        if name == DEFAULT_ORG_REF:
            raise ApiError(400, f'Organization name "{DEFAULT_ORG_REF}" is reserved.')
        if not self.can(op, "create", Obj("organization")):
            raise forbidden()
        now = self._clock()
        org = Organization(
            id=str(uuid.uuid4()),
            name=name,
            display_name=display_name or name,
            description=description,
            icon=icon,
            created_at=now,
            updated_at=now,
        )
        try:
            await self._orgs.create(org)
        except OrganizationExists:
            raise ApiError(409, "Organization already exists with that name.") from None
        if op.user_id:
            await self._users.add_membership(op.user_id, org.id, (), now)
        await self._record(
            op, "organization_created", organization_id=org.id, changes=_changes({}, _org(org))
        )
        return org

    async def update_org(
        self,
        op: Operator,
        org: Organization,
        name: str,
        display_name: str,
        description: str | None,
        icon: str | None,
    ) -> Organization:
        """PATCH /organizations/{organization}: the fields given."""
        if name == DEFAULT_ORG_REF:
            raise ApiError(400, f'Organization name "{DEFAULT_ORG_REF}" is reserved.')
        if not self.can(op, "update", Obj("organization", org=org.id, id=org.id)):
            raise not_found()
        fields: dict[str, Any] = {"updated_at": self._clock()}
        if name:
            fields["name"] = name
        if display_name:
            fields["display_name"] = display_name
        if description is not None:
            fields["description"] = description
        if icon is not None:
            fields["icon"] = icon
        for _ in range(3):
            try:
                result = await self._orgs.update(org, **fields)
            except OrganizationExists:
                raise ApiError(
                    409,
                    f'Organization already exists with the name "{name}".',
                    validations=[
                        Validation("name", "This value is already in use and should be unique.")
                    ],
                ) from None
            if result is not None:
                break
            fresh = await self._orgs.get(org.id)
            if fresh is None:
                raise not_found()
            org = fresh
        else:
            raise ApiError(409, "The organization changed while it was being updated; try again.")
        if not result:
            raise not_found()
        updated = replace(org, **fields)
        await self._record(
            op,
            "organization_updated",
            organization_id=org.id,
            changes=_changes(_org(org), _org(updated)),
        )
        return updated

    async def delete_org(self, op: Operator, org: Organization) -> None:
        """DELETE /organizations/{organization}: it and every membership in it."""
        if org.is_default:
            raise ApiError(400, "Default organization cannot be deleted.")
        if not self.can(op, "delete", Obj("organization", org=org.id, id=org.id)):
            raise not_found()
        members = [u.id for u in await self._users.all() if org.id in u.orgs]
        result = await self._orgs.delete(org, members)
        if result == -1:
            raise ApiError(400, "Default organization cannot be deleted.")
        if result == 0:
            raise not_found()
        for cascade in self._cascades:
            await cascade.forget_org(org.id)
        await self._record(
            op, "organization_deleted", organization_id=org.id, changes=_changes(_org(org), {})
        )

    async def members(self, op: Operator, org: Organization) -> list[User]:
        """The members of `org` the operator may read, by lower-cased username."""
        users = [u for u in await self._users.all() if org.id in u.orgs]
        visible = [u for u in users if self.can(op, "read", member_obj(org.id, u.id))]
        return sorted(visible, key=lambda u: u.username.lower())

    def member_route_guard(
        self, op: Operator, org: Organization, route: MemberRoute, ref: str
    ) -> None:
        """Refuse, before any user is looked up, an operator who holds no permission the
        member route could use in this organization (Coder looks the `{user}` up as the
        system, so without this a plain member could tell which usernames exist from the
        400/404 difference). Privileged operators, and anyone naming themselves, get
        Coder's answers."""
        if ref in ("me", op.user_id):
            return
        in_org = Obj("organization_member", org=org.id)
        assign = Obj("assign_org_role", org=org.id)
        if route == "add":
            allowed = self.can(op, "assign", assign) and self.can(op, "create", in_org)
        elif route == "remove":
            allowed = self.can(op, "delete", in_org)
        elif route == "roles":
            allowed = self.can(op, "assign", assign) or self.can(op, "unassign", assign)
        else:
            allowed = True  # reading: resolve_member answers for what may be read
        if not allowed:
            raise forbidden() if route == "roles" else not_found()

    async def resolve_member(self, op: Operator, org: Organization, ref: str) -> User:
        """Coder's organization member parameter: the user resolved as the system, then its
        membership (404 when it has none, or when the operator may not read it)."""
        # Without organization-wide read, only one's own membership is readable: anything
        # else is not found, whether the user exists or not.
        own = ref in ("me", op.user_id)
        if not own and not self.can(op, "read", Obj("organization_member", org=org.id)):
            raise not_found()
        user = await self.resolve_user(op, ref, as_system=True)
        if org.id not in user.orgs:
            raise not_found()
        return user

    async def add_member(self, op: Operator, org: Organization, user: User) -> User:
        """POST /organizations/{organization}/members/{user}."""
        if not (
            self.can(op, "assign", Obj("assign_org_role", org=org.id))
            and self._may_assign(op, ORG_MEMBER, org.id)
            and self.can(op, "create", member_obj(org.id, user.id))
        ):
            raise not_found()
        now = self._clock()
        result = await self._users.add_membership(user.id, org.id, (), now)
        if result == -2:
            raise ApiError(
                400,
                "User is already an organization member",
                f"{user.username} is already a member of {org.display_name or org.name}",
            )
        if result != 1:
            raise not_found()
        await self._record(op, "member_added", organization_id=org.id, user_id=user.id)
        return replace(
            user,
            orgs={**user.orgs, org.id: ()},
            joined={**user.joined, org.id: (now, now)},
        )

    async def remove_member(self, op: Operator, org: Organization, user: User) -> None:
        """DELETE /organizations/{organization}/members/{user}."""
        if user.id == op.user_id:
            raise ApiError(400, "cannot remove self from an organization")
        if not self.can(op, "delete", member_obj(org.id, user.id)):
            raise not_found()
        if not await self._users.remove_membership(user.id, org.id):
            raise not_found()
        await self._record(op, "member_removed", organization_id=org.id, user_id=user.id)

    async def set_member_roles(
        self, op: Operator, org: Organization, user: User, body: Body[Sequence[str]]
    ) -> User:
        """PUT /organizations/{organization}/members/{user}/roles."""
        if user.id == op.user_id:
            raise ApiError(400, "You cannot change your own organization roles.")
        roles = await body()
        if not self.can(op, "read", member_obj(org.id, user.id)):
            raise forbidden()
        wanted = {*roles, ORG_MEMBER}
        current = {*user.orgs.get(org.id, ()), ORG_MEMBER}
        self._check_assignment(op, sorted(wanted - current), sorted(current - wanted), org.id)
        new_roles = tuple(sorted(set(roles)))
        now = self._clock()
        result = await self._users.set_membership_roles(user, org.id, new_roles, now)
        if result != 1:
            raise not_found()
        await self._record(
            op,
            "member_roles_changed",
            organization_id=org.id,
            user_id=user.id,
            changes=_changes(
                {"roles": sorted(user.orgs.get(org.id, ()))}, {"roles": list(new_roles)}
            ),
        )
        created, _ = user.joined.get(org.id, (now, now))
        return replace(
            user,
            orgs={**user.orgs, org.id: new_roles},
            joined={**user.joined, org.id: (created, now)},
        )


def _org(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "display_name": org.display_name,
        "description": org.description,
        "icon": org.icon,
    }


def _permissions(perms: Any) -> list[dict[str, Any]]:
    out = [{"negate": False, "resource_type": r, "action": a} for r, a in sorted(perms.allow)]
    out += [{"negate": True, "resource_type": r, "action": a} for r, a in sorted(perms.deny)]
    return out


def role_api(role: Role, org_id: str | None) -> dict[str, Any]:
    """codersdk.Role."""
    out: dict[str, Any] = {"name": role.name}
    if org_id:
        out["organization_id"] = org_id
    out.update(
        {
            "display_name": role.display_name,
            "site_permissions": _permissions(role.site),
            "organization_permissions": _permissions(role.org),
            "user_permissions": _permissions(role.user),
        }
    )
    return out


def slim_role(policy_roles: Mapping[str, Role], name: str, org_id: str | None) -> dict[str, Any]:
    """codersdk.SlimRole."""
    role = policy_roles.get(name)
    out: dict[str, Any] = {"name": name, "display_name": role.display_name if role else ""}
    if org_id:
        out["organization_id"] = org_id
    return out


def member_api(policy_roles: Mapping[str, Role], user: User, org_id: str) -> dict[str, Any]:
    """codersdk.OrganizationMember."""
    created, updated = user.joined.get(org_id, (user.created_at, user.created_at))
    return {
        "user_id": user.id,
        "organization_id": org_id,
        "created_at": rfc3339(created),
        "updated_at": rfc3339(updated),
        "roles": [slim_role(policy_roles, r, org_id) for r in user.orgs.get(org_id, ())],
    }


def member_with_user_api(
    policy_roles: Mapping[str, Role], user: User, org_id: str
) -> dict[str, Any]:
    """codersdk.OrganizationMemberWithUserData."""
    return {
        "username": user.username,
        "name": user.name,
        "avatar_url": "",
        "email": user.email,
        "global_roles": [slim_role(policy_roles, r, None) for r in user.roles],
        **member_api(policy_roles, user, org_id),
    }
