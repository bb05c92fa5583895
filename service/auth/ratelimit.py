"""Rate limits shared by every replica: per-IP request limits and per-account failure budgets."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)


class RateDecision(NamedTuple):
    """The outcome of counting one request against one or more limits (a tuple: one is made
    for every API request, and a frozen dataclass costs several times as much to make)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the oldest counted request leaves the window

    @property
    def retry_after(self) -> int:
        """Whole seconds for a Retry-After header (at least 1)."""
        return max(1, math.ceil(self.reset_after))


_UNLIMITED = RateDecision(True, -1, -1, 0.0)


class RateLimiter(Protocol):
    """Sliding-log limiter. All `limits` of one call share `tag` (one Redis hash slot)."""

    async def hit(
        self,
        tag: str,
        limits: Sequence[tuple[str, int]],
        window: float,
        *,
        record: bool = True,
    ) -> RateDecision:
        """Count a request (unless `record` is False) if every limit has room.

        A request that is refused is not counted, so a client that backs off recovers.
        """
        ...


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole seconds: 60 -> ``1m0s``, 3600 -> ``1h0m0s``."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


class SharedLog(Protocol):
    """The shared sliding log of one limit (RedisRateLimiter.add)."""

    async def add(self, tag: str, name: str, count: int, window: float) -> tuple[int, float]:
        """Record `count` requests now; (requests in the window, seconds until the oldest
        leaves it)."""
        ...


@dataclass
class _LocalCount:
    tag: str
    name: str
    known: int = 0  # requests in the shared window at the last sync (this replica's included)
    pending: int = 0  # requests let through here since, not yet recorded in the shared log
    synced_at: float = -math.inf
    reset_after: float = 0.0
    syncing: bool = False


class LocalFirstLimiter:
    """One limit decided in the process and reconciled with the shared log in the background:
    no Redis round trip on the hot path.

    A request is let through while the last known shared count plus what this replica let
    through since stays under the limit. The shared log is brought up to date in the background
    every `interval` seconds, or sooner once a tenth of the limit is pending, so each replica can
    overshoot by what it lets through in that time (bounded by `interval` x its request rate,
    and by a tenth of the limit). A refusal is decided on data at most `interval` old, fetched
    then if it is older. If the store is unreachable the counts stay pending and the decision
    stays local.
    """

    MAX_KEYS = 100_000

    def __init__(
        self,
        shared: SharedLog,
        interval: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._interval = interval
        self._monotonic = monotonic
        self._counts: OrderedDict[tuple[str, str], _LocalCount] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def decide(self, tag: str, name: str, limit: int, window: float) -> RateDecision | None:
        """`hit` without waiting: the decision, or None when it must first fetch the shared
        count (the limit looks reached on data older than `interval`); then call `hit`."""
        if limit < 0:
            return _UNLIMITED
        key = (tag, name)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = _LocalCount(tag, name)
            if len(self._counts) > self.MAX_KEYS:
                self._counts.popitem(last=False)
        now = self._monotonic()
        if count.known + count.pending >= limit:
            if now - count.synced_at >= self._interval and not count.syncing:
                return None
            return RateDecision(False, limit, 0, count.reset_after or window)
        return self._let_through(count, limit, window, now)

    async def hit(self, tag: str, name: str, limit: int, window: float) -> RateDecision:
        """Count one request against `limit` per `window` if there is room."""
        decision = self.decide(tag, name, limit, window)
        if decision is not None:
            return decision
        count = self._counts[(tag, name)]  # just made or found by `decide`, no await since
        await self._sync(count, window)
        if count.known + count.pending >= limit:
            return RateDecision(False, limit, 0, count.reset_after or window)
        return self._let_through(count, limit, window, self._monotonic())

    def _let_through(
        self, count: _LocalCount, limit: int, window: float, now: float
    ) -> RateDecision:
        count.pending += 1
        remaining = limit - count.known - count.pending
        due = now - count.synced_at >= self._interval or count.pending >= max(1, limit // 10)
        if due and not count.syncing:
            count.syncing = True
            task = asyncio.create_task(self._sync(count, window))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return RateDecision(True, limit, max(remaining, 0), count.reset_after or window)

    async def _sync(self, count: _LocalCount, window: float) -> None:
        count.syncing = True
        sending, count.pending = count.pending, 0
        try:
            known, reset_after = await self._shared.add(count.tag, count.name, sending, window)
        except Exception:  # an outage: keep the counts for the next sync, decide locally
            count.pending += sending
            count.synced_at = self._monotonic()  # and retry no sooner than `interval`
            log.debug("rate-limit sync failed; deciding locally", exc_info=True)
        else:
            count.known, count.reset_after = known, reset_after
            count.synced_at = self._monotonic()
        finally:
            count.syncing = False

    async def close(self) -> None:
        """Wait for the syncs in flight (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
