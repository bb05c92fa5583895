"""The outbox worker: runs in every replica and delivers each queued job once.

Guarantees (see README, "Mail"): a job is handed to one worker at a time (consumer group); a
failed job is retried with exponential backoff until MAIL_MAX_ATTEMPTS, then kept as a dead
letter; a job whose worker died is reclaimed by another after OUTBOX_CLAIM_AFTER; a job marked
done is never run again. A message is lost only if Redis loses it; it is sent twice only if a
worker dies between the SMTP server accepting it and the done-mark being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from service.clock import Clock
from service.mail.jobs import Delivery, Job
from service.mail.mailer import Mailer
from service.mail.templates import Rendered, to_email
from service.store.redis import STORE_ERRORS

log = logging.getLogger(__name__)

JobHandler = Callable[[dict[str, Any]], Awaitable[None]]


class DropJob(Exception):
    """A job that can no longer be useful (e.g. its passcode expired): bury it, don't retry."""


class OutboxStore(Protocol):
    """What the worker needs from the queue."""

    async def ensure_group(self) -> None: ...

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]: ...

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]: ...

    async def is_done(self, job: Job) -> bool: ...

    async def complete(self, delivery: Delivery) -> None: ...

    async def retry(self, delivery: Delivery, due: float) -> None: ...

    async def bury(self, delivery: Delivery, reason: str) -> None: ...

    async def promote_due(self, now: float, limit: int = 100) -> int: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to keep trying."""

    max_attempts: int
    max_delay: float
    claim_after: float
    base_delay: float = 1.0

    def delay(self, attempts: int) -> float:
        """Exponential backoff with jitter, capped."""
        return float(min(self.max_delay, self.base_delay * 2**attempts) * random.uniform(0.8, 1.0))  # noqa: S311


class OutboxWorker:
    """Consumes the outbox until stopped."""

    def __init__(
        self,
        store: OutboxStore,
        handlers: Mapping[str, JobHandler],
        consumer: str,
        policy: RetryPolicy,
        clock: Clock,
        block_ms: int = 1000,
    ) -> None:
        self._store = store
        self._handlers = dict(handlers)
        self._consumer = consumer
        self._policy = policy
        self._clock = clock
        self._block_ms = block_ms
        self._stopping = asyncio.Event()
        self.failures = 0  # delivery failures seen by this worker (for metrics)

    def stop(self) -> None:
        """Finish the current job, then return from `run`."""
        self._stopping.set()

    async def run(self) -> None:
        """The loop; store outages are waited out, never fatal."""
        ready = False
        while not self._stopping.is_set():
            try:
                if not ready:
                    await self._store.ensure_group()
                    ready = True
                await self.run_once()
            except STORE_ERRORS as exc:
                log.warning("outbox: state store unavailable (%s); retrying", type(exc).__name__)
                await self._sleep(1.0)
            except Exception:
                log.exception("outbox: unexpected error; continuing")
                await self._sleep(1.0)

    async def run_once(self) -> int:
        """Promote due retries, reclaim stale jobs, read new ones, and run them."""
        await self._store.promote_due(self._clock())
        claim_after_ms = int(self._policy.claim_after * 1000)
        deliveries = await self._store.claim_stale(self._consumer, claim_after_ms, 10)
        if not deliveries:
            deliveries = await self._read_unless_stopped()
        for delivery in deliveries:
            await self._process(delivery)
        return len(deliveries)

    async def _read_unless_stopped(self) -> list[Delivery]:
        # An idle blocking read is abandoned on stop (nothing is claimed until it returns);
        # a job already being processed is always finished.
        read = asyncio.ensure_future(self._store.read(self._consumer, 10, self._block_ms))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if read.done():
            return read.result()
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        return []

    async def _process(self, delivery: Delivery) -> None:
        job = delivery.job
        if await self._store.is_done(job):
            await self._store.complete(delivery)  # a reclaimed copy of a finished job
            return
        handler = self._handlers.get(job.kind)
        if handler is None:
            await self._store.bury(delivery, f"no handler for job kind {job.kind!r}")
            return
        try:
            await handler(job.data)
        except DropJob as exc:
            log.warning("outbox: dropping %s job: %s", job.kind, exc, extra={"job_id": job.id})
            await self._store.bury(delivery, str(exc))
        except Exception as exc:
            self.failures += 1
            attempts = job.attempts + 1
            if attempts >= self._policy.max_attempts:
                log.error(
                    "outbox: %s job failed %d times; giving up: %s",
                    job.kind,
                    attempts,
                    exc,
                    extra={"job_id": job.id},
                )
                await self._store.bury(delivery, str(exc))
                return
            delay = self._policy.delay(job.attempts)
            log.warning(
                "outbox: %s job failed (attempt %d), retrying in %.1fs: %s",
                job.kind,
                attempts,
                delay,
                exc,
                extra={"job_id": job.id},
            )
            await self._store.retry(delivery, self._clock() + delay)
        else:
            await self._store.complete(delivery)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def mail_job_handler(mailer: Mailer, sender: str, clock: Clock) -> JobHandler:
    """Runs `mail` jobs: render the queued message and hand it to the mailer."""

    async def handle(data: dict[str, Any]) -> None:
        expires_at = data.get("expires_at")
        if expires_at is not None and clock() > float(expires_at):
            raise DropJob("its one-time passcode expired before it could be delivered")
        rendered = Rendered(
            template=data["template"],
            to=data["to"],
            subject=data["subject"],
            text=data["text"],
            html=data["html"],
        )
        await mailer.send(to_email(rendered, sender))

    return handle
