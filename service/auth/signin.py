"""Signing in with an external identity provider (OIDC, GitHub), and completing conversions."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal, Protocol

from service.auth.convert import LoginConversion, is_conversion
from service.auth.sessions import SessionManager
from service.auth.users import NewUser, User, UserDirectory, UserExists, UserStore
from service.clock import Clock
from service.errors import ApiError

log = logging.getLogger(__name__)

Provider = Literal["oidc", "github"]


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says signed in."""

    provider: Provider
    subject: str
    email: str
    email_verified: bool
    username: str = ""
    name: str = ""


class IdentityProvider(Protocol):
    """An OAuth2/OIDC provider: where to send the browser, and what a code is worth."""

    async def authorize_url(self, state: str, code_challenge: str, nonce: str) -> str:
        """The provider's authorization URL for this flow."""
        ...

    async def exchange(self, code: str, code_verifier: str, nonce: str) -> ExternalIdentity:
        """Redeem the code and return the verified identity. Raises ApiError."""
        ...


@dataclass(frozen=True)
class SignInOutcome:
    """A new session token, or None when a conversion signed the caller out instead."""

    session_token: str | None
    signed_out: bool


_USERNAME_CHARS = re.compile(r"[^a-zA-Z0-9]+")


def _username_from(identity: ExternalIdentity) -> str:
    base = identity.username or identity.email.split("@")[0]
    cleaned = _USERNAME_CHARS.sub("-", base).strip("-")[:32].strip("-")
    return cleaned or "user"


class SignIn:
    """Resolves an external identity to a user, converts or signs up, and issues a session."""

    def __init__(
        self,
        users: UserStore,
        directory: UserDirectory,
        sessions: SessionManager,
        conversion: LoginConversion,
        allow_signups: dict[str, bool],
        clock: Clock,
    ) -> None:
        self._users = users
        self._directory = directory
        self._sessions = sessions
        self._conversion = conversion
        self._allow_signups = allow_signups
        self._clock = clock

    async def complete(
        self,
        identity: ExternalIdentity,
        state: str,
        convert_cookie: str | None,
        current_token: str,
        ip: str,
    ) -> SignInOutcome:
        """Finish a provider callback. Raises ApiError with Coder's messages."""
        if not identity.email_verified:
            raise ApiError(
                403,
                f'Verify the "{identity.email}" email address on your {identity.provider} '
                "provider to authenticate!",
            )
        provider = identity.provider
        user = await self._users.by_link(provider, identity.subject)
        if user is None and identity.email:
            user = await self._users.by_email(identity.email)
        if is_conversion(state):
            user = await self._conversion.verify(
                user, provider, identity.email, state, convert_cookie
            )
            await self._link(user, identity)
            log.info("login type converted", extra={"user_id": user.id, "to": provider})
            if current_token:
                # PR #8347: the session that asked is signed out; the user logs in afresh.
                try:
                    session, _ = await self._sessions.verify(current_token)
                except ApiError:
                    pass
                else:
                    await self._sessions.revoke(session)
                    return SignInOutcome(None, signed_out=True)
        elif user is None:
            user = await self._sign_up(identity)
        elif user.login_type != provider:
            raise ApiError(
                403,
                f'Incorrect login type, attempting to use "{provider}" but user is of login '
                f'type "{user.login_type}"',
            )
        elif user.links.get(provider) != identity.subject:
            await self._link(user, identity)
        user = await self._users.get(user.id) or user
        if user.status == "dormant":
            await self._users.update(user.id, status="active", updated_at=self._clock())
        elif user.status != "active":
            raise ApiError(
                401, f"Your account is {user.status}. Contact an admin to reactivate your account."
            )
        token = await self._sessions.issue(user.id, provider, ip, epoch=user.session_epoch)
        return SignInOutcome(token, signed_out=False)

    async def _link(self, user: User, identity: ExternalIdentity) -> None:
        linked = await self._users.set_login(
            user.id, identity.provider, identity.provider, identity.subject, self._clock()
        )
        if not linked:
            raise ApiError(
                403, f"This {identity.provider} account is already linked to another user."
            )

    async def _sign_up(self, identity: ExternalIdentity) -> User:
        if not self._allow_signups.get(identity.provider, False):
            raise ApiError(403, f'Signups are not allowed for login type "{identity.provider}"')
        base = _username_from(identity)
        for attempt in range(10):
            username = base if attempt == 0 else f"{base[:27]}-{attempt + 1}"
            try:
                user = await self._directory.create(
                    NewUser(
                        email=identity.email,
                        username=username,
                        login_type=identity.provider,
                        name=identity.name[:128].strip(),
                    )
                )
            except UserExists as exc:
                if str(exc) == "email":
                    raise ApiError(409, "A user with this email already exists.") from None
                continue
            assert user is not None
            await self._link(user, identity)
            log.info("user signed up", extra={"user_id": user.id, "provider": identity.provider})
            return user
        raise ApiError(409, "Could not find a free username for this account.")
