"""Password login (Coder's `loginRequest`, spec §2.3) with failure budgets nobody else can spend.

Failed attempts are counted, before any hashing, in budgets that a stranger who knows only
the address cannot exhaust for the owner (README, "Security model"):
- a browser with a device cookie for the account (auth/devices) has a budget of its own;
- any other client has one per account and client network (IPv4 address or IPv6 /64), and
  all such clients together one larger budget per account, which bounds distributed guessing
  (and can lock out only clients the account has never signed in from).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from service.auth.addresses import address_key
from service.auth.devices import DeviceCookie, DeviceCookies
from service.auth.events import EventRecorder, NoEvents
from service.auth.passwords import MalformedHash, Passwords
from service.auth.ratelimit import RateLimiter, go_duration
from service.auth.sessions import SessionManager
from service.auth.users import User, UserStore
from service.clock import Clock
from service.errors import INCORRECT_LOGIN, PASSWORD_AUTH_DISABLED, ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginPolicy:
    """Deployment switches that shape login."""

    disable_password_auth: bool
    failure_limit: int  # per client network (or device) and account per window; -1 disables
    failure_window: float
    account_failure_limit: int = -1  # per account from clients without a device cookie


@dataclass(frozen=True)
class LoginClient:
    """Who is attempting: the client's network and the device cookie it presented, if any."""

    network: str
    device_cookie: str | None = None


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the user, the session token and the device cookie to set."""

    user_id: str
    token: str
    device: DeviceCookie | None


class LoginService:
    """Checks credentials and issues sessions."""

    def __init__(
        self,
        users: UserStore,
        passwords: Passwords,
        sessions: SessionManager,
        limiter: RateLimiter,
        policy: LoginPolicy,
        clock: Clock,
        events: EventRecorder | None = None,
        devices: DeviceCookies | None = None,
    ) -> None:
        self._events = events or NoEvents()
        self._devices = devices
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._limiter = limiter
        self._policy = policy
        self._clock = clock

    def _budgets(self, email: str, client: LoginClient) -> tuple[str, list[tuple[str, int]]]:
        """The tag and the limits this attempt counts against (one slot, one round trip)."""
        device = None
        if self._devices is not None:
            device = self._devices.verify(email, client.device_cookie, self._clock())
        if device is not None:
            return f"login-failures|device|{device}", [("device", self._policy.failure_limit)]
        # The account's budget and each client's share the account's tag, so that the
        # limiter checks (and records) both in one atomic script.
        return f"login-failures|{address_key(email)}", [
            (f"client|{client.network}", self._policy.failure_limit),
            ("account", self._policy.account_failure_limit),
        ]

    async def check_credentials(self, email: str, password: str, client: LoginClient) -> User:
        """Steps 2-8 of Coder's login; also used by convert-login. Raises ApiError."""
        window = self._policy.failure_window
        tag, limits = self._budgets(email, client)
        # Keyed by the address asked for, known or not, so that a 429 reveals nothing about
        # which accounts exist; checked before any hashing.
        budget = await self._limiter.hit(tag, limits, window, record=False)
        if not budget.allowed:
            raise ApiError(
                429,
                f"You've been rate limited for sending more than {budget.limit} failed "
                f"login attempts for this account in {go_duration(window)}.",
                headers={
                    "Retry-After": str(budget.retry_after),
                    "RateLimit-Limit": str(budget.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(budget.retry_after),
                },
            )
        user = await self._users.by_email(email)
        stored = None
        if user is not None:
            stored = user.hashed_password
            if user.login_type != "password" and not stored:
                # Converted users: only to recognise the old password for the 403 below.
                stored = user.retired_password_hash
        try:
            # No user, or no password: the same hashing work against a dummy hash, and
            # never a match (Coder's `hunter2` quirk is not reproduced).
            verdict = await self._passwords.verify(stored, password)
        except MalformedHash:
            log.error("stored password hash is malformed", extra={"user_id": user and user.id})
            raise ApiError(500, "Internal error.") from None
        if not verdict.ok or user is None:
            await self._limiter.hit(tag, limits, window, record=True)
            raise ApiError(401, INCORRECT_LOGIN)
        if self._policy.disable_password_auth:
            raise ApiError(403, PASSWORD_AUTH_DISABLED)
        if user.login_type != "password":
            raise ApiError(
                403,
                'Incorrect login type, attempting to use "password" but user is of login '
                f'type "{user.login_type}"',
            )
        if user.status == "dormant":
            now = self._clock()
            await self._users.update(user.id, status="active", updated_at=now)
            user = replace(user, status="active", updated_at=now)
        if user.status != "active":
            raise ApiError(
                401, f"Your account is {user.status}. Contact an admin to reactivate your account."
            )
        if verdict.needs_rehash and user.hashed_password:
            new_hash = await self._passwords.hash(password)
            await self._users.update(user.id, hashed_password=new_hash)
            self._events.count("password_rehash")
            log.info("password re-hashed with current parameters", extra={"user_id": user.id})
        return user

    async def login(self, email: str, password: str, ip: str, client: LoginClient) -> LoginResult:
        """Check credentials, issue a session, and a device cookie for this browser."""
        user = await self.check_credentials(email, password, client)
        token = await self._sessions.issue(user.id, "password", ip, epoch=user.session_epoch)
        device = None
        if self._devices is not None:
            device = self._devices.issue(user.email, self._clock())
        return LoginResult(user.id, token, device)
