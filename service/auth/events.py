"""What services report about themselves (counted as metrics by the app)."""

from __future__ import annotations

from typing import Protocol


class EventRecorder(Protocol):
    """Counts named events: `password_rehash`, `otp_issued`, `otp_throttled`, ..."""

    def count(self, event: str) -> None: ...


class NoEvents:
    """A recorder that records nothing (for tools and tests that don't export metrics)."""

    def count(self, event: str) -> None:
        return None
