"""Jobs that travel through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    """A unit of background work; `id` is stable across retries (used to run it once)."""

    id: str
    kind: str
    data: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Delivery:
    """A job as handed to one consumer (its stream entry id acknowledges it)."""

    entry_id: str
    job: Job
