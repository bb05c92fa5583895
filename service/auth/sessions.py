"""Sessions: Coder API keys `<10 chars>-<22 chars>`, only SHA-256 of the secret stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass, replace
from typing import Protocol

from service.clock import Clock, go_time_string
from service.errors import SIGNED_OUT, ApiError

ID_LENGTH = 10
SECRET_LENGTH = 22
REFRESH_INTERVAL = 3600.0  # sliding expiry and last-used are written at most once an hour
_ALPHABET = string.ascii_letters + string.digits
FULL_SCOPE = "coder:all"
ALLOW_ALL = "*:*"
TOKEN_LOGIN = "token"  # noqa: S105 - a login type, not a secret


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key secret, as stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A stored session (API key row); `hashed_secret` is the SHA-256 hex digest."""

    id: str
    user_id: str
    hashed_secret: str
    created_at: float
    expires_at: float
    last_used: float
    lifetime: float
    login_type: str
    ip: str
    # API tokens (login type `token`) carry a name, their scopes and allow-list; sessions
    # carry the full-access defaults.
    scopes: tuple[str, ...] = (FULL_SCOPE,)
    allow_list: tuple[str, ...] = (ALLOW_ALL,)
    token_name: str = ""
    # The user's session epoch when this was issued; void once the user's is higher.
    epoch: int = 0

    @property
    def is_token(self) -> bool:
        return self.login_type == TOKEN_LOGIN


def signed_out(detail: str) -> ApiError:
    """The 401 every token failure produces (detail differs per case)."""
    return ApiError(401, SIGNED_OUT, detail)


def parse_token(token: str) -> tuple[str, str]:
    """Split `<id>-<secret>`. Raises ApiError 401 with Coder's format details."""
    parts = token.split("-")
    if len(parts) != 2:
        raise signed_out(
            "Invalid API key format: incorrect amount of API key parts, "
            f"expected 2 got {len(parts)}"
        )
    key_id, secret = parts
    if len(key_id) != ID_LENGTH:
        raise signed_out(
            f"Invalid API key format: invalid API key ID length, expected {ID_LENGTH} "
            f"got {len(key_id)}"
        )
    if len(secret) != SECRET_LENGTH:
        raise signed_out(
            "Invalid API key format: invalid API key secret length, "
            f"expected {SECRET_LENGTH} got {len(secret)}"
        )
    return key_id, secret


class SessionStore(Protocol):
    """Session rows with a TTL equal to their expiry, shared by every replica."""

    async def put(self, session: Session) -> None: ...

    async def get(self, key_id: str) -> Session | None: ...

    async def extend(self, session: Session, expires_at: float, last_used: float) -> bool:
        """Record a use of a session as just read (its record rewritten, never recreated);
        True when it was the first use of a never-used token."""
        ...

    async def delete(self, session: Session) -> bool:
        """Delete one session or token; False when it was already gone."""
        ...

    async def delete_all(self, user_id: str) -> None:
        """Void every session and token of a user (raise the user's session epoch) and
        delete the tokens."""
        ...

    async def put_token(self, token: Session) -> bool:
        """Store an API token under its name, unique per user; False when the name is taken
        by a live token."""
        ...

    async def tokens_of(self, user_id: str) -> list[Session]:
        """A user's live API tokens."""
        ...

    async def token_named(self, user_id: str, name: str) -> Session | None: ...


class SessionManager:
    """Issues, verifies, refreshes and revokes sessions."""

    def __init__(
        self, store: SessionStore, clock: Clock, lifetime: float, max_lifetime: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._lifetime = lifetime
        self._max_lifetime = max_lifetime

    async def issue(
        self,
        user_id: str,
        login_type: str,
        ip: str,
        lifetime: float | None = None,
        *,
        epoch: int,
    ) -> str:
        """Create a session (of the session lifetime unless given) under the user's session
        epoch as just read; returns the token (the only time the secret exists)."""
        now = self._clock()
        lifetime = self._lifetime if lifetime is None else lifetime
        key_id, secret = _random(ID_LENGTH), _random(SECRET_LENGTH)
        await self._store.put(
            Session(
                id=key_id,
                user_id=user_id,
                hashed_secret=hash_secret(secret),
                created_at=now,
                expires_at=now + min(lifetime, self._max_lifetime),
                last_used=now,
                lifetime=lifetime,
                login_type=login_type,
                ip=ip,
                epoch=epoch,
            )
        )
        return f"{key_id}-{secret}"

    async def issue_token(
        self,
        user_id: str,
        name: str,
        lifetime: float,
        scopes: tuple[str, ...],
        allow_list: tuple[str, ...],
        ip: str = "",
        *,
        epoch: int,
    ) -> tuple[str, Session] | None:
        """Create an API token with a fixed lifetime; (the key, its record), or None when
        the user already has a live token of that name. It has never been used
        (`last_used` 0) until its first request."""
        now = self._clock()
        key_id, secret = _random(ID_LENGTH), _random(SECRET_LENGTH)
        token = Session(
            id=key_id,
            user_id=user_id,
            hashed_secret=hash_secret(secret),
            created_at=now,
            expires_at=now + lifetime,
            last_used=0.0,
            lifetime=lifetime,
            login_type=TOKEN_LOGIN,
            ip=ip,
            scopes=scopes,
            allow_list=allow_list,
            token_name=name,
            epoch=epoch,
        )
        if not await self._store.put_token(token):
            return None
        return f"{key_id}-{secret}", token

    async def find(self, key_id: str) -> Session | None:
        """A stored session or token by its id (no secret needed: for its owner's views)."""
        if len(key_id) != ID_LENGTH or not (key_id.isascii() and key_id.isalnum()):
            return None
        return await self._store.get(key_id)

    async def tokens_of(self, user_id: str) -> list[Session]:
        """A user's live API tokens, oldest first."""
        now = self._clock()
        tokens = [t for t in await self._store.tokens_of(user_id) if t.expires_at > now]
        return sorted(tokens, key=lambda t: (t.created_at, t.id))

    async def token_named(self, user_id: str, name: str) -> Session | None:
        return await self._store.token_named(user_id, name)

    async def verify(self, token: str) -> tuple[Session, bool]:
        """Check a token and slide its expiry; True when this call wrote a refresh.

        Raises ApiError 401 with Coder's details.
        """
        session, refreshed, _ = await self.verify_use(token)
        return session, refreshed

    async def verify_use(self, token: str) -> tuple[Session, bool, bool]:
        """`verify`, plus whether this was the first use of an API token (decided in Redis,
        once across replicas)."""
        key_id, secret = parse_token(token)
        session = await self._store.get(key_id)
        if session is None:
            raise signed_out("API key is invalid.")
        if not hmac.compare_digest(hash_secret(secret), session.hashed_secret):
            raise signed_out("API key secret is invalid.")
        now = self._clock()
        if session.expires_at <= now:
            raise signed_out(f'API key expired at "{go_time_string(session.expires_at)}".')
        return await self._refresh(session, now)

    @staticmethod
    def refresh_due(session: Session, now: float) -> bool:
        """True when a use now must write (slide the expiry, or record the hourly last use)."""
        return (
            not session.is_token and session.expires_at - now <= session.lifetime - REFRESH_INTERVAL
        ) or now - session.last_used >= REFRESH_INTERVAL

    async def _refresh(self, session: Session, now: float) -> tuple[Session, bool, bool]:
        # Coder: when expires_at - now <= lifetime - 1h, move expiry to now + lifetime.
        # We also never pass the absolute cap (created_at + SESSION_MAX_LIFETIME). API tokens
        # keep the lifetime they were created with: only their last use is recorded.
        due = (
            not session.is_token and session.expires_at - now <= session.lifetime - REFRESH_INTERVAL
        )
        if not self.refresh_due(session, now):
            return session, False, False
        expires_at = session.expires_at
        if due:
            cap = session.created_at + self._max_lifetime
            expires_at = max(session.expires_at, min(now + session.lifetime, cap))
        first = await self._store.extend(session, expires_at, now)
        return replace(session, expires_at=expires_at, last_used=now), True, first

    async def revoke(self, session: Session) -> bool:
        """Delete one session or token; False when it was already gone."""
        return await self._store.delete(session)

    async def revoke_all(self, user_id: str) -> None:
        """Delete every session of a user."""
        await self._store.delete_all(user_id)
