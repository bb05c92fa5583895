"""Who is calling: a verified session and its active user (Coder's apiKeyMiddleware).

Verified callers are cached in the process for at most SESSION_CACHE_TTL seconds of real time
(default 1). A write that changes a session or a user evicts its entries at once in the process
that made it, and the change feed tells every other replica, so a revoked session, a suspended
user or changed roles take effect everywhere within that bound even if a message is lost.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Final

from service.auth.sessions import Session, SessionManager, signed_out
from service.auth.users import User, UserStore
from service.authz.authcheck import Caller
from service.authz.policy import RoleSet
from service.authz.scopes import ScopeCatalog, TokenScope
from service.errors import ApiError

CACHE_SIZE: Final = 10_000
# last_seen_at is kept to the hour: at most one write per user and hour.
LAST_SEEN_GRANULARITY: Final = 3600.0


@dataclass(frozen=True)
class Actor:
    """The authenticated caller."""

    user: User
    session: Session
    roles: RoleSet = field(default_factory=lambda: RoleSet.of((), {}))
    # What an API token's scopes and allow-list permit; None for sessions and full-access
    # tokens (nothing narrower than the roles).
    scope: TokenScope | None = None

    @functools.cached_property
    def caller(self) -> Caller:
        """The caller as the authz engine knows it (made once per cached actor)."""
        return Caller(self.user.id, self.roles, self.scope)


@dataclass
class _Entry:
    actor: Actor
    cached_at: float


class Authenticator:
    """Turns a session token into an Actor, or raises ApiError 401."""

    def __init__(
        self,
        sessions: SessionManager,
        users: UserStore,
        clock: Callable[[], float],
        cache_ttl: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        scopes: ScopeCatalog | None = None,
        on_first_use: Callable[[Session], Awaitable[None]] | None = None,
    ) -> None:
        """`scopes` compiles API tokens' scopes (without it, tokens act with full access:
        unit tests only); `on_first_use` hears of a token's first request (the audit)."""
        self._scopes = scopes
        self._on_first_use = on_first_use
        self._sessions = sessions
        self._users = users
        self._clock = clock
        self._ttl = cache_ttl
        self._monotonic = monotonic
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        self._by_session: dict[str, str] = {}
        # Users by id (with their compiled role sets), for as long as tokens: a token not yet
        # cached whose user is costs one round trip (its session) instead of two.
        self._users_cache: OrderedDict[str, tuple[User, RoleSet, float]] = OrderedDict()

    def cached(self, token: str) -> Actor | None:
        """The token's caller as verified within SESSION_CACHE_TTL, when nothing about it must
        be checked or written again now (its expiry, an hourly refresh); else None (then
        `authenticate`). Answers without waiting: the common request's path."""
        entry = self._cache.get(token) if self._ttl > 0 else None
        if entry is None:
            return None
        session = entry.actor.session
        now = self._clock()
        if (
            self._monotonic() - entry.cached_at < self._ttl
            and session.expires_at > now
            and not self._sessions.refresh_due(session, now)
        ):
            return entry.actor
        self._evict(token)
        return None

    async def authenticate(self, token: str) -> Actor:
        """Verify the token, load the user, apply Coder's status rules."""
        actor = self.cached(token)
        if actor is not None:
            return actor
        actor = await self._verify(token)
        if self._ttl > 0:
            self._remember(token, actor)
        return actor

    async def _verify(self, token: str) -> Actor:
        session, refreshed, first_use = await self._sessions.verify_use(token)
        if first_use and self._on_first_use is not None:
            await self._on_first_use(session)
        found = await self._user(session.user_id)
        if (
            found is None
            or session.epoch < found[0].session_epoch
            or session.created_at < found[0].sessions_valid_after
        ):
            # The user is gone, or revoked every session since this one was made.
            await self._sessions.revoke(session)
            raise signed_out("API key is invalid.")
        user, roles = found
        updates: dict[str, object] = {}
        if refreshed or user.last_seen_at < session.last_used - LAST_SEEN_GRANULARITY:
            # Written with the hourly session refresh, as Coder does, or on a new session's
            # first use (users are created never seen).
            updates["last_seen_at"] = session.last_used
        if user.status == "dormant":
            updates["status"] = "active"  # silently reactivated, as Coder does
        if updates:
            await self._users.update(user.id, **updates)
            user = replace(user, **updates)  # type: ignore[arg-type]
        if user.status != "active":
            raise ApiError(
                401,
                f'User is not active (status = "{user.status}"). '
                "Contact an admin to reactivate your account.",
            )
        scope = (
            self._scopes.compile(session.scopes, session.allow_list)
            if self._scopes is not None and session.is_token
            else None
        )
        # `updates` never touch roles: the role set read with the user still holds.
        return Actor(user=user, session=session, roles=roles, scope=scope)

    async def _user(self, user_id: str) -> tuple[User, RoleSet] | None:
        """The user and its role set, from the cache while it is fresh."""
        cached = self._users_cache.get(user_id) if self._ttl > 0 else None
        if cached is not None and self._monotonic() - cached[2] < self._ttl:
            return cached[0], cached[1]
        user = await self._users.get(user_id)
        if user is None:
            return None
        roles = RoleSet.of(user.roles, user.orgs)
        if self._ttl > 0:
            self._users_cache[user_id] = (user, roles, self._monotonic())
            self._users_cache.move_to_end(user_id)
            while len(self._users_cache) > CACHE_SIZE:
                self._users_cache.popitem(last=False)
        return user, roles

    def _remember(self, token: str, actor: Actor) -> None:
        self._evict(token)
        self._cache[token] = _Entry(actor, self._monotonic())
        self._by_user.setdefault(actor.user.id, set()).add(token)
        self._by_session[actor.session.id] = token
        while len(self._cache) > CACHE_SIZE:
            self._evict(next(iter(self._cache)))

    def _evict(self, token: str) -> None:
        entry = self._cache.pop(token, None)
        if entry is None:
            return
        tokens = self._by_user.get(entry.actor.user.id)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._by_user[entry.actor.user.id]
        self._by_session.pop(entry.actor.session.id, None)

    def forget(self, kind: str, ident: str) -> None:
        """Evict what a change makes stale: kind `user` (a user id) or `session` (a key id)."""
        if kind == "user":
            self._users_cache.pop(ident, None)
            for token in list(self._by_user.get(ident, ())):
                self._evict(token)
        elif kind == "session":
            cached = self._by_session.get(ident)
            if cached is not None:
                self._evict(cached)
