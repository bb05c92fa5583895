"""API tokens (Coder's coderd/apikey.go): long-lived keys for scripts, CI and other services.

A token is stored like a session (only SHA-256 of its secret), with login type `token`, a name
unique per user, a fixed lifetime (Coder slides tokens on use; here they keep the lifetime they
were created with), scopes and an allow-list. Every operation is authorized by the policy on
the `api_key` object the token is, owned by its user, and through the operator's own token
scope when the caller is itself a token.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from service.auth.admin import Administration, Operator
from service.auth.ratelimit import go_duration
from service.auth.sessions import Session, SessionManager
from service.auth.users import User, UserStore
from service.authz.policy import Obj, RoleSet
from service.authz.scopes import UNRESTRICTED, ScopeCatalog, ScopeError, go_quote
from service.clock import GO_ZERO_TIME, rfc3339
from service.errors import INVALID_JSON, ApiError, Validation, forbidden, not_found

log = logging.getLogger(__name__)

NANOSECONDS: Final = 1_000_000_000
MAX_NAME_LENGTH: Final = 64
CREATE_FAILED: Final = "Failed to create API key."
_ADJECTIVES: Final = (
    "amber", "brave", "calm", "clever", "eager", "gentle", "happy", "keen", "lucid", "merry",
    "nimble", "proud", "quiet", "rapid", "sharp", "steady", "swift", "tidy", "vivid", "witty",
)  # fmt: skip
_NAMES: Final = (
    "babbage", "curie", "dijkstra", "euler", "gauss", "hopper", "hypatia", "knuth", "lamarr",
    "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
)  # fmt: skip


def random_token_name() -> str:
    """A name for a token created without one (Coder uses moby's names generator)."""
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NAMES)}{secrets.randbelow(10)}"


def parse_go_bool(text: str) -> bool:
    """strconv.ParseBool, with an error read as false (Coder ignores it)."""
    return text in ("1", "t", "T", "TRUE", "true", "True")


def key_obj(user_id: str, key_id: str = "") -> Obj:
    """The `api_key` object a token or session is, owned by its user."""
    return Obj("api_key", owner=user_id, id=key_id)


@dataclass(frozen=True)
class TokenSettings:
    """MAX_TOKEN_LIFETIME and DEFAULT_TOKEN_LIFETIME, in seconds."""

    max_lifetime: float
    default_lifetime: float


@dataclass(frozen=True)
class NewToken:
    """POST /users/{user}/keys/tokens, as given (lifetime in nanoseconds, 0 for the default)."""

    name: str = ""
    lifetime_ns: int = 0
    scope: str = ""
    scopes: Sequence[str] = ()
    allow_list: Sequence[str] = ()


class TokenService:
    """Creates, lists, reads and deletes API tokens; audits each change and a token's first
    use. The secret exists only in the answer to its creation."""

    def __init__(
        self,
        admin: Administration,
        sessions: SessionManager,
        catalog: ScopeCatalog,
        users: UserStore,
        settings: TokenSettings,
    ) -> None:
        self._admin = admin
        self._sessions = sessions
        self._catalog = catalog
        self._users = users
        self._settings = settings

    @property
    def max_lifetime(self) -> float:
        return self._settings.max_lifetime

    async def _record(self, op: Operator | None, event: str, token: Session) -> None:
        """An audit record through the administration's trail (`op` None: the token's own
        user, on its first use); never the secret."""
        await self._admin.record(
            op if op is not None else Operator(token.user_id, RoleSet.of((), {})),
            event,
            target=token.user_id,
            key_id=token.id,
            token_name=token.token_name,
            scopes=",".join(token.scopes),
            allow_list=",".join(token.allow_list),
        )

    async def create(self, op: Operator, user: User, req: NewToken) -> str:
        """Coder's postToken, in its order of checks; returns the key (`<id>-<secret>`)."""
        try:
            targets = self._catalog.parse_targets(req.allow_list)
        except ScopeError as exc:  # Coder checks entries while decoding the body
            raise ApiError(400, INVALID_JSON, str(exc)) from None
        try:
            if req.scopes:
                scopes = self._catalog.normalize(req.scopes)
            else:
                scopes = self._catalog.normalize([req.scope] if req.scope else [])
        except ScopeError as exc:
            raise ApiError(400, CREATE_FAILED, str(exc)) from None
        name = req.name or random_token_name()
        if len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise ApiError(
                400,
                CREATE_FAILED,
                f"token name must be at most {MAX_NAME_LENGTH} printable characters",
                [Validation("token_name", "Invalid token name.")],
            )
        try:
            allow_list = self._catalog.normalize_allow_list(targets)
        except ScopeError as exc:
            raise ApiError(400, CREATE_FAILED, str(exc)) from None
        lifetime = min(self._settings.default_lifetime, self._settings.max_lifetime)
        if req.lifetime_ns != 0:
            lifetime = self._checked_lifetime(req.lifetime_ns)
        self._authorize_new_key(op, user, scopes, allow_list)
        issued = await self._sessions.issue_token(
            user.id, name, lifetime, scopes, allow_list, epoch=user.session_epoch
        )
        if issued is None:
            raise ApiError(
                409,
                f"A token with name {go_quote(name)} already exists.",
                validations=[
                    Validation("name", "This value is already in use and should be unique.")
                ],
            )
        key, token = issued
        await self._record(op, "api_key_created", token)
        return key

    def _checked_lifetime(self, lifetime_ns: int) -> float:
        if lifetime_ns <= 0:
            detail = "lifetime must be positive number greater than 0"
        elif lifetime_ns > self._settings.max_lifetime * NANOSECONDS:
            detail = f"lifetime must be less than {go_duration(self._settings.max_lifetime)}"
        else:
            return lifetime_ns / NANOSECONDS
        raise ApiError(400, "Failed to validate create API key request.", detail)

    def _authorize_new_key(
        self, op: Operator, user: User, scopes: tuple[str, ...], allow_list: tuple[str, ...]
    ) -> None:
        """`api_key:create` for the user; and a caller that is itself a scoped token may only
        create keys no broader than its own scope (else it could mint a full-access one)."""
        if not self._admin.can(op, "create", key_obj(user.id)):
            raise forbidden()
        if op.scope is not None:
            wanted = self._catalog.compile(scopes, allow_list) or UNRESTRICTED
            if not op.scope.covers(wanted):
                raise forbidden()

    async def create_session_key(self, op: Operator, user: User, ip: str) -> str:
        """POST /users/{user}/keys: a session-like key (login type password) that lasts the
        default token lifetime, for the CLI's login."""
        self._authorize_new_key(op, user, ("coder:all",), ("*:*",))
        return await self._sessions.issue(
            user.id,
            "password",
            ip,
            lifetime=min(self._settings.default_lifetime, self._settings.max_lifetime),
            epoch=user.session_epoch,
        )

    async def list_tokens(
        self, op: Operator, user: User, include_all: bool
    ) -> list[tuple[Session, str]]:
        """The tokens (with their owners' usernames) the operator may read: the user's, or
        with `include_all` everyone's."""
        owners = await self._users.all() if include_all else [user]
        out: list[tuple[Session, str]] = []
        for owner in owners:
            for token in await self._sessions.tokens_of(owner.id):
                if self._admin.can(op, "read", key_obj(owner.id, token.id)):
                    out.append((token, owner.username))
        return sorted(out, key=lambda pair: (pair[0].created_at, pair[0].id))

    async def by_name(self, op: Operator, user: User, name: str) -> Session:
        token = await self._sessions.token_named(user.id, name)
        if token is None or not self._admin.can(op, "read", key_obj(user.id, token.id)):
            raise not_found()
        return token

    async def by_id(self, op: Operator, user: User, key_id: str) -> Session:
        """A key of this user (a token or a session), if the operator may read it. A key of
        another user is not found here (Coder finds any key by id)."""
        return await self._own_key(op, user, key_id, "read")

    async def delete(self, op: Operator, user: User, key_id: str) -> None:
        key = await self._own_key(op, user, key_id, "delete")
        if not await self._sessions.revoke(key):
            raise not_found()
        await self._record(op, "api_key_deleted", key)

    async def _own_key(self, op: Operator, user: User, key_id: str, action: str) -> Session:
        """A live key of this user the operator may act on, else 404. A session voided by
        revoking all of the user's sessions (an older epoch) is gone, though its record ages
        out with its TTL."""
        key = await self._sessions.find(key_id)
        if (
            key is None
            or key.user_id != user.id
            or key.epoch < user.session_epoch
            or not self._admin.can(op, action, key_obj(user.id, key.id))
        ):
            raise not_found()
        return key

    async def first_used(self, token: Session) -> None:
        """A token's first request (the Authenticator's hook)."""
        await self._record(None, "api_key_first_used", token)


def token_api(key: Session) -> Mapping[str, object]:
    """codersdk.APIKey (`scope` is the legacy single name Coder still returns)."""
    if "coder:application_connect" in key.scopes:
        legacy = "application_connect"
    elif "coder:all" in key.scopes:
        legacy = "all"
    else:
        legacy = ""
    return {
        "id": key.id,
        "user_id": key.user_id,
        "last_used": rfc3339(key.last_used) if key.last_used else GO_ZERO_TIME,
        "expires_at": rfc3339(key.expires_at),
        "created_at": rfc3339(key.created_at),
        "updated_at": rfc3339(key.created_at),
        "login_type": key.login_type,
        "scope": legacy,
        "scopes": list(key.scopes),
        "token_name": key.token_name,
        "lifetime_seconds": int(key.lifetime),
        "allow_list": [
            {"type": kind, "id": ident}
            for kind, _, ident in (entry.partition(":") for entry in key.allow_list)
        ],
    }
