"""Users: the record, the store protocol it needs, and the admin operations on it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from service.clock import GO_ZERO_TIME, Clock, rfc3339

LoginType = Literal["password", "github", "oidc", "none"]
UserStatus = Literal["active", "dormant", "suspended"]
LOGIN_TYPES: tuple[LoginType, ...] = ("password", "github", "oidc", "none")
STATUSES: tuple[UserStatus, ...] = ("active", "dormant", "suspended")

OWNER = "owner"
MEMBER = "member"
ORG_MEMBER = "organization-member"

ROLE_DISPLAY_NAMES = {
    "owner": "Owner",
    "member": "Member",
    "auditor": "Auditor",
    "template-admin": "Template Admin",
    "user-admin": "User Admin",
    "organization-admin": "Organization Admin",
    "organization-member": "Organization Member",
    "organization-auditor": "Organization Auditor",
    "organization-user-admin": "Organization User Admin",
    "organization-template-admin": "Organization Template Admin",
    "organization-workspace-creation-ban": "Organization Workspace Creation Ban",
}


@dataclass(frozen=True)
class User:
    """A user record as stored. `orgs` maps organization id -> explicit org roles."""

    id: str
    username: str
    email: str
    login_type: LoginType
    status: UserStatus
    hashed_password: str
    roles: tuple[str, ...]
    orgs: Mapping[str, tuple[str, ...]]
    created_at: float
    updated_at: float
    last_seen_at: float
    name: str = ""
    # Sessions created before this instant are void (password reset, admin revocation).
    sessions_valid_after: float = 0.0
    # Sessions and tokens issued under an older epoch are void: revoking all of a user's
    # sessions raises it (in Redis, atomically), so no per-user index of sessions is kept.
    session_epoch: int = 0
    # Linked external identities: provider ("oidc", "github") -> subject at that provider.
    links: Mapping[str, str] = field(default_factory=dict)
    # The hash a user had before converting to OIDC/GitHub. It never signs anyone in; it only
    # lets login recognise the old password and answer Coder's login-type 403 (spec §2.3).
    retired_password_hash: str = ""
    # When each membership began and last changed: organization id -> (created_at, updated_at).
    joined: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """codersdk.User as Coder renders it (site roles only in `roles`)."""
        return {
            "id": self.id,
            "username": self.username,
            "avatar_url": "",
            "name": self.name,
            "email": self.email,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "last_seen_at": rfc3339(self.last_seen_at) if self.last_seen_at else GO_ZERO_TIME,
            "status": self.status,
            "login_type": self.login_type,
            "theme_preference": "",
            "organization_ids": sorted(self.orgs),
            "roles": [
                {"name": r, "display_name": ROLE_DISPLAY_NAMES.get(r, r)} for r in self.roles
            ],
        }

    def to_admin(self) -> dict[str, Any]:
        """The command line's view: the API view plus org roles (never the hash)."""
        out = self.to_api()
        out["organizations"] = {org: list(roles) for org, roles in sorted(self.orgs.items())}
        return out


class UserExists(Exception):
    """The email or username is taken."""


class LastOwner(Exception):
    """The change would leave the deployment without an owner."""


class StaleUser(Exception):
    """The record changed between reading it and writing it; read it again."""


@dataclass(frozen=True)
class Organization:
    """An organization record as stored."""

    id: str
    name: str
    display_name: str
    description: str
    icon: str
    created_at: float
    updated_at: float
    is_default: bool = False

    def to_api(self) -> dict[str, Any]:
        """codersdk.Organization."""
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "icon": self.icon,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "is_default": self.is_default,
        }


class OrganizationExists(Exception):
    """The organization name is taken."""


class UserStore(Protocol):
    """Durable user records, shared by every replica."""

    async def create(self, user: User, *, only_if_empty: bool = False) -> bool:
        """Insert; False when `only_if_empty` and users exist. Raises UserExists."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """The user with this address, compared by `addresses.same_address` only."""
        ...

    async def by_username(self, username: str) -> User | None: ...

    async def all(self) -> list[User]: ...

    async def count(self) -> int: ...

    async def update(self, user_id: str, **fields: Any) -> None:
        """Set the named fields of an existing user (no-op for an unknown id)."""
        ...

    async def default_org(self) -> str:
        """The deployment's default organization id, created on first use."""
        ...

    async def deployment_id(self) -> str:
        """This deployment's id, created on first use."""
        ...

    async def by_link(self, provider: str, subject: str) -> User | None: ...

    async def set_login(
        self, user_id: str, login_type: LoginType, provider: str, subject: str, now: float
    ) -> bool:
        """Set the login type, link the identity, and drop the password unless the type is
        `password`, atomically. False if the identity is linked to another user."""
        ...


@dataclass
class NewUser:
    """What it takes to create a user."""

    email: str
    username: str
    hashed_password: str = ""
    login_type: LoginType = "password"
    status: UserStatus = "active"
    roles: Sequence[str] = ()
    orgs: Mapping[str, Sequence[str]] | None = None
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class UserDirectory:
    """Creating and administering users on top of a UserStore."""

    def __init__(self, store: UserStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, new: NewUser, *, only_if_empty: bool = False) -> User | None:
        """Create a user; without orgs it joins the default org. None if not empty."""
        now = self._clock()
        orgs = new.orgs
        if orgs is None:
            orgs = {await self._store.default_org(): ()}
        user = User(
            id=str(uuid.uuid4()),
            username=new.username,
            email=new.email,
            login_type=new.login_type,
            status=new.status,
            hashed_password=new.hashed_password,
            roles=tuple(dict.fromkeys(new.roles)),
            orgs={org: tuple(dict.fromkeys(r)) for org, r in orgs.items()},
            joined=dict.fromkeys(orgs, (now, now)),
            created_at=now,
            updated_at=now,
            last_seen_at=0.0,  # never seen until a session is used (Coder's zero time)
            name=new.name,
        )
        created = await self._store.create(user, only_if_empty=only_if_empty)
        return user if created else None

    async def by_param(self, ref: str) -> User | None:
        """Coder's `{user}` path parameter: a UUID, else a username."""
        try:
            user_id = str(uuid.UUID(ref))
        except ValueError:
            return await self._store.by_username(ref)
        return await self._store.get(user_id)

    async def find(self, ref: str) -> User | None:
        """Look a user up by id, email or username."""
        try:
            uuid.UUID(ref)
        except ValueError:
            pass
        else:
            if (user := await self._store.get(ref.lower())) is not None:
                return user
        if "@" in ref:
            return await self._store.by_email(ref)
        return await self._store.by_username(ref)

    async def all(self) -> list[User]:
        """Every user, oldest first."""
        return await self._store.all()
