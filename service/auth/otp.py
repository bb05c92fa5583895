"""Password reset by emailed one-time passcode (Coder's otp/request and otp/change-password).

The request path only enqueues a job, the same work for every address, so neither the answer
nor its timing tells whether an account exists; the outbox worker then looks the user up,
issues the code and queues the mail. Codes are UUIDv4s stored only as a keyed HMAC bound to the
user, live for OTP_TTL, are void after OTP_MAX_ATTEMPTS wrong guesses, and are consumed once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from service.auth.events import EventRecorder, NoEvents
from service.auth.passwords import MalformedHash, Passwords
from service.auth.policy import check_password
from service.auth.ratelimit import RateLimiter
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
    """Live passcodes, one per user, as MACs with an attempt counter."""

    async def put(self, user_id: str, mac: str, ttl: float) -> None: ...

    async def check(self, user_id: str, mac: str, max_attempts: int) -> bool:
        """True if `mac` is the live code; a wrong one counts an attempt (void at the cap)."""
        ...

    async def consume(self, user_id: str, mac: str) -> bool:
        """Delete the live code if it is `mac`; True for exactly one caller."""
        ...


class JobQueue(Protocol):
    """Where background work is queued (the outbox)."""

    async def enqueue(self, kind: str, data: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ResetPolicy:
    """Deployment settings that shape password reset."""

    ttl: float
    max_attempts: int
    request_limit: int  # codes per address per window; -1 disables
    request_window: float
    product: str
    public_url: str


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

    async def request(self, email: str) -> None:
        """POST /otp/request: queue the work; identical for every address."""
        await self._jobs.enqueue(OTP_REQUEST_JOB, {"email": email})

    async def issue(self, data: Mapping[str, Any]) -> None:
        """Worker side of a request: throttle, look up, issue the code, queue the mail."""
        email = str(data["email"])
        throttle = await self._limiter.hit(
            f"otp-request|{email.lower()}",
            [("codes", self._policy.request_limit)],
            self._policy.request_window,
        )
        if not throttle.allowed:
            self._events.count("otp_throttled")
            log.warning("password reset throttled for this address; nothing sent")
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
        await self._otps.put(user.id, self._mac(user.id, code), self._policy.ttl)
        mail = templates.one_time_passcode(
            self._policy.product, user.username, user.email, code, self._policy.public_url
        )
        await self._jobs.enqueue(
            MAIL_JOB, {**asdict(mail), "expires_at": self._clock() + self._policy.ttl}
        )
        self._events.count("otp_issued")
        log.info("one-time passcode issued", extra={"user_id": user.id})

    async def change_password(self, email: str, code: str, new_password: str) -> None:
        """POST /otp/change-password, in Coder's order. Raises ApiError (400)."""
        if problem := check_password(new_password):
            raise ApiError(400, "Invalid password.", validations=[Validation("password", problem)])
        user = await self._users.by_email(email)
        user_id = user.id if user else NIL_USER
        mac = self._mac(user_id, code)
        # An unknown address does the same store round trip against a key that never exists.
        if not await self._otps.check(user_id, mac, self._policy.max_attempts) or user is None:
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
