"""Password reset by emailed one-time passcode (Coder's otp/request and otp/change-password).

The request path only enqueues a job, the same work for every address, so neither the answer
nor its timing tells whether an account exists; the outbox worker then looks the user up,
issues the code and queues the mail. Codes are UUIDv4s stored only as a keyed HMAC bound to the
user, live for OTP_TTL each (a new request does not void an earlier code), and are consumed
once. What a stranger who knows only the address can do is bounded per requester, so that
the owner is never the one who runs out (README, "Security model"):
- requests: OTP_REQUEST_LIMIT per address and client network, and OTP_ADDRESS_LIMIT per
  address from everyone (a mail-flooding cap);
- guesses: OTP_MAX_ATTEMPTS per address and client network per OTP_TTL, counted before the
  code is compared; a guess never voids the owner's code.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from service.auth.addresses import address_key
from service.auth.events import EventRecorder, NoEvents
from service.auth.passwords import MalformedHash, Passwords
from service.auth.policy import check_password
from service.auth.ratelimit import RateLimiter, go_duration
from service.auth.sessions import SessionManager
from service.auth.users import UserStore
from service.clock import Clock, go_time_string
from service.errors import ApiError, Validation
from service.mail import templates

log = logging.getLogger(__name__)

NIL_USER = "00000000-0000-0000-0000-000000000000"
INCORRECT_OTP = "Incorrect email or one-time passcode."
OTP_REQUEST_JOB = "otp-request"
MAIL_JOB = "mail"


class OtpStore(Protocol):
    """A user's live passcodes, as MACs, each with its own expiry."""

    async def put(self, user_id: str, mac: str, ttl: float, max_live: int) -> None:
        """Add a code; the oldest go when more than `max_live` would be live."""
        ...

    async def check(self, user_id: str, mac: str) -> bool:
        """True if `mac` is a live code."""
        ...

    async def consume(self, user_id: str, mac: str) -> bool:
        """If `mac` is live, delete every code of the user; True for exactly one caller."""
        ...


class JobQueue(Protocol):
    """Where background work is queued (the outbox)."""

    async def enqueue(self, kind: str, data: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ResetPolicy:
    """Deployment settings that shape password reset."""

    ttl: float
    max_attempts: int  # guesses per address and client network per ttl
    request_limit: int  # codes per address and client network per window; -1 disables
    request_window: float
    product: str
    public_url: str
    address_limit: int = -1  # codes per address from everyone per window; -1 disables

    @property
    def max_live_codes(self) -> int:
        """How many codes a user may hold at once (each request may have sent one)."""
        return self.address_limit if self.address_limit > 0 else 10


def derive_key(secret: str) -> bytes:
    """The OTP MAC key, derived from SECRET_KEY (shared by every replica)."""
    return hmac.new(secret.encode(), b"authsvc/otp/v1", hashlib.sha256).digest()


class PasswordReset:
    """Issues passcodes and changes passwords with them."""

    def __init__(
        self,
        users: UserStore,
        passwords: Passwords,
        sessions: SessionManager,
        otps: OtpStore,
        jobs: JobQueue,
        limiter: RateLimiter,
        key: bytes,
        policy: ResetPolicy,
        clock: Clock,
        events: EventRecorder | None = None,
    ) -> None:
        self._events = events or NoEvents()
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._otps = otps
        self._jobs = jobs
        self._limiter = limiter
        self._key = key
        self._policy = policy
        self._clock = clock

    def _mac(self, user_id: str, code: str) -> str:
        message = f"{user_id}:{code.strip().lower()}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def request(self, email: str, client: str) -> None:
        """POST /otp/request: queue the work; identical for every address."""
        await self._jobs.enqueue(OTP_REQUEST_JOB, {"email": email, "client": client})

    async def _throttled(self, email: str, client: str) -> bool:
        """Count a request against the requester's and the address's budgets (one atomic hit:
        both under the address's tag; a refused request is not counted)."""
        limits = [
            (f"requester|{client}", self._policy.request_limit),
            ("address", self._policy.address_limit),
        ]
        decision = await self._limiter.hit(
            f"otp-request|{address_key(email)}", limits, self._policy.request_window
        )
        return not decision.allowed

    async def issue(self, data: Mapping[str, Any]) -> None:
        """Worker side of a request: throttle, look up, issue the code, queue the mail."""
        email = str(data["email"])
        if await self._throttled(email, str(data.get("client", ""))):
            self._events.count("otp_throttled")
            log.warning("password reset throttled for this address or requester; nothing sent")
            return
        user = await self._users.by_email(email)
        if user is None:
            log.warning("password reset requested for account that does not exist")
            return
        if user.status == "suspended" or user.login_type != "password":
            # No code for accounts that could not sign in with a password anyway.
            log.warning(
                "password reset requested for a %s %s account; nothing sent",
                user.status,
                user.login_type,
                extra={"user_id": user.id},
            )
            return
        code = str(uuid.uuid4())
        await self._otps.put(
            user.id, self._mac(user.id, code), self._policy.ttl, self._policy.max_live_codes
        )
        mail = templates.one_time_passcode(
            self._policy.product, user.username, user.email, code, self._policy.public_url
        )
        await self._jobs.enqueue(
            MAIL_JOB, {**asdict(mail), "expires_at": self._clock() + self._policy.ttl}
        )
        self._events.count("otp_issued")
        log.info("one-time passcode issued", extra={"user_id": user.id})

    async def _count_guess(self, email: str, client: str) -> None:
        """Count a guess before it is compared; 429 once the client used its budget."""
        window = self._policy.ttl
        tag = f"otp-guesses|{address_key(email)}|{client}"
        budget = await self._limiter.hit(tag, [("guesses", self._policy.max_attempts)], window)
        if not budget.allowed:
            raise ApiError(
                429,
                f"You've been rate limited for sending more than {budget.limit} one-time "
                f"passcode attempts for this account in {go_duration(window)}.",
                headers={"Retry-After": str(budget.retry_after)},
            )

    async def change_password(self, email: str, code: str, new_password: str, client: str) -> None:
        """POST /otp/change-password, in Coder's order. Raises ApiError (400, 429)."""
        if problem := check_password(new_password):
            raise ApiError(400, "Invalid password.", validations=[Validation("password", problem)])
        # Known or unknown address alike, so that the budget says nothing about accounts.
        await self._count_guess(email, client)
        user = await self._users.by_email(email)
        user_id = user.id if user else NIL_USER
        mac = self._mac(user_id, code)
        # An unknown address does the same store round trip against a key that never exists.
        if not await self._otps.check(user_id, mac) or user is None:
            log.warning("password reset with an invalid one-time passcode")
            raise ApiError(400, INCORRECT_OTP)
        try:
            same = (await self._passwords.verify(user.hashed_password or None, new_password)).ok
        except MalformedHash:
            same = False  # an unreadable old hash cannot equal the new password
        if same:
            raise ApiError(400, "New password cannot match old password.")
        # Consume only now, so a rejected new password does not burn the code; of two
        # concurrent requests with the same code exactly one gets past this line.
        if not await self._otps.consume(user_id, mac):
            raise ApiError(400, INCORRECT_OTP)
        new_hash = await self._passwords.hash(new_password)
        now = self._clock()
        await self._users.update(
            user.id, hashed_password=new_hash, sessions_valid_after=now, updated_at=now
        )
        await self._sessions.revoke_all(user.id)
        notice = templates.password_changed(
            self._policy.product, user.username, user.email, go_time_string(now)
        )
        await self._jobs.enqueue(MAIL_JOB, asdict(notice))
        self._events.count("password_reset")
        log.info("password changed with a one-time passcode", extra={"user_id": user.id})
