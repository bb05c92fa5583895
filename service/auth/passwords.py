"""Password hashing: argon2id for new hashes, Coder's PBKDF2 format still verifies.

All hashing runs in a thread pool (argon2-cffi releases the GIL), never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
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


class HashCapacity:
    """How many hashes may run at once: every hashing thread while the event loop is mostly
    idle, one fewer (at least one) while the loop is busy, so that a core stays free for
    every other request.

    Hashing threads run below the loop's priority (`hashing_pool`), but with every core
    hashing the loop still waits for one, and a kernel scheduler's wake-up latency lands on
    every request's tail (measured in bench/). Busy: the loop's thread used more than `busy`
    of a core over the last sample (`sample`, every `PERIOD` s on the loop); it is idle again
    below half that. A login-only load leaves the loop mostly idle, so logins keep every core.
    """

    PERIOD = 0.1

    def __init__(
        self,
        workers: int,
        busy: float,
        monotonic: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self.workers = workers
        self._busy = busy
        self._monotonic = monotonic
        self._cpu = cpu
        self._limit = workers
        self._active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last = (monotonic(), cpu())

    @property
    def limit(self) -> int:
        return self._limit

    def sample(self) -> None:
        """Measure the loop's load since the last sample (call it on the loop's thread)."""
        now, used = self._monotonic(), self._cpu()
        elapsed = now - self._last[0]
        if elapsed <= 0:
            return
        load = (used - self._last[1]) / elapsed
        self._last = (now, used)
        if load > self._busy:
            self._limit = max(1, self.workers - 1)
        elif load < self._busy / 2:
            self._limit = self.workers
            self._wake()

    async def watch(self) -> None:
        """Sample the loop's load for as long as it runs (a task of the app's lifetime)."""
        while True:
            await asyncio.sleep(self.PERIOD)
            self.sample()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free slot (first come, first served), hold it while hashing."""
        if self._active >= self._limit or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if not waiter.cancelled() and waiter.done():
                    self._active -= 1  # granted as it was cancelled: give it back
                    self._wake()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                raise
        else:
            self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self._active < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._active += 1
                waiter.set_result(None)


class Passwords:
    """Async hashing on a bounded thread pool sized to the cores."""

    def __init__(
        self, hasher: PasswordHasher, pool: ThreadPoolExecutor, capacity: HashCapacity
    ) -> None:
        self._hasher = hasher
        self._pool = pool
        self.capacity = capacity

    async def hash(self, password: str) -> str:
        """Hash off the event loop."""
        loop = asyncio.get_running_loop()
        async with self.capacity.slot():
            return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> Verdict:
        """Verify off the event loop. Raises MalformedHash."""
        loop = asyncio.get_running_loop()
        async with self.capacity.slot():
            return await loop.run_in_executor(self._pool, self._hasher.verify, stored, password)
