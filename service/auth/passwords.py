"""Password hashing: argon2id for new hashes, Coder's PBKDF2 format still verifies.

All hashing runs in a thread pool (argon2-cffi releases the GIL), never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PBKDF2_PREFIX = "$pbkdf2-sha256$"
PBKDF2_ITERATIONS = 65535


class MalformedHash(Exception):
    """A stored hash is in no format this service knows (Coder answers 500 for these)."""


@dataclass(frozen=True)
class Verdict:
    """Outcome of a password check."""

    ok: bool
    needs_rehash: bool = False


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def pbkdf2_hash(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Coder's `$pbkdf2-sha256$<iter>$<salt>$<hash>` string (64-byte key, raw std base64)."""
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=64)
    return f"{PBKDF2_PREFIX}{iterations}${_b64(salt)}${_b64(key)}"


def _pbkdf2_verify(stored: str, password: str) -> bool:
    if len(stored) < 64:
        raise MalformedHash("hash too short")
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "pbkdf2-sha256":
        raise MalformedHash("not a pbkdf2-sha256 hash")
    try:
        iterations = int(parts[2])
        salt = _unb64(parts[3])
    except ValueError as exc:
        raise MalformedHash("bad pbkdf2 parameters") from exc
    if not 1 <= iterations <= 10_000_000:
        raise MalformedHash("bad pbkdf2 iteration count")
    return hmac.compare_digest(pbkdf2_hash(password, salt, iterations), stored)


class PasswordHasher:
    """Synchronous facade: `hash`, `verify`, `needs_rehash`. Use `Passwords` from async code."""

    def __init__(self, memory_cost: int, time_cost: int, parallelism: int) -> None:
        self._argon = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        # Unknown emails and password-less users are checked against this, so that they cost
        # the same hashing work as a real user (and never match: nobody knows its input).
        self._dummy = self._argon.hash(base64.b64encode(hashlib.sha256(b"dummy").digest()))

    def hash(self, password: str) -> str:
        """A new argon2id hash with the configured parameters."""
        return self._argon.hash(password)

    def verify(self, stored: str | None, password: str) -> Verdict:
        """Check `password` against `stored`. Raises MalformedHash for unknown formats."""
        if not stored:
            self._check_argon(self._dummy, password)
            return Verdict(ok=False)
        if stored.startswith("$argon2"):
            if not self._check_argon(stored, password):
                return Verdict(ok=False)
            return Verdict(ok=True, needs_rehash=self._argon.check_needs_rehash(stored))
        if stored.startswith(PBKDF2_PREFIX):
            ok = _pbkdf2_verify(stored, password)
            return Verdict(ok=ok, needs_rehash=ok)  # always upgraded to argon2id
        raise MalformedHash("unknown hash scheme")

    def _check_argon(self, stored: str, password: str) -> bool:
        try:
            return self._argon.verify(stored, password)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as exc:
            raise MalformedHash(str(exc)) from exc


def is_supported_hash(stored: str) -> bool:
    """True for hashes this service can verify (argon2 or Coder's PBKDF2)."""
    if stored.startswith("$argon2"):
        try:
            argon2.extract_parameters(stored)
        except InvalidHashError:
            return False
        return True
    if stored.startswith(PBKDF2_PREFIX):
        try:
            _pbkdf2_verify(stored, "")
        except MalformedHash:
            return False
        return True
    return False


def hashing_pool(workers: int, nice: int) -> ThreadPoolExecutor:
    """The threads that hash passwords, each `nice` steps below the event loop's priority
    (Linux schedules threads one by one). When logins saturate the cores, the loop (every
    other request) still gets the CPU first, and hashing takes all that is left; with 0, or
    where a thread's priority cannot be set, they run at the loop's."""

    def lower_priority() -> None:
        if nice > 0 and hasattr(os, "setpriority"):
            # Not allowed here: hashing simply competes as an equal.
            with contextlib.suppress(OSError):
                thread = threading.get_native_id()  # starts at its creator's niceness
                base = os.getpriority(os.PRIO_PROCESS, thread)
                os.setpriority(os.PRIO_PROCESS, thread, min(19, base + nice))

    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="hash", initializer=lower_priority
    )


class Passwords:
    """Async hashing on a bounded thread pool sized to the cores."""

    def __init__(self, hasher: PasswordHasher, pool: ThreadPoolExecutor) -> None:
        self._hasher = hasher
        self._pool = pool

    async def hash(self, password: str) -> str:
        """Hash off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> Verdict:
        """Verify off the event loop. Raises MalformedHash."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.verify, stored, password)
