"""Rate limits shared by every replica: per-IP request limits and per-account failure budgets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one request against one or more limits."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the oldest counted request leaves the window

    @property
    def retry_after(self) -> int:
        """Whole seconds for a Retry-After header (at least 1)."""
        return max(1, math.ceil(self.reset_after))


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
