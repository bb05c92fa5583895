"""Time as the service sees it: an injectable clock and Go-compatible timestamp rendering."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch; injected so expiry can be tested without sleeping."""

    def __call__(self) -> float: ...


def system_clock() -> float:
    """The real wall clock."""
    return time.time()


# Go's zero time.Time in JSON: what Coder shows for a user who was never seen.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(ts: float) -> str:
    """Go's time.Time JSON form in UTC: RFC 3339 with trailing zero fractions trimmed."""
    dt = datetime.fromtimestamp(ts, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    return text + "Z"


def go_time_string(ts: float) -> str:
    """Go's time.Time.String() for a UTC time, e.g. ``2025-01-01 00:00:00 +0000 UTC``."""
    dt = datetime.fromtimestamp(ts, UTC)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    return text + " +0000 UTC"
