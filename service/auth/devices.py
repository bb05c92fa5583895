"""Device cookies (OWASP "Slow down online guessing attacks with device cookies").

A browser that signed in to an account successfully gets a cookie, signed with a key derived
from SECRET_KEY and bound to that account's address, that marks it as a known device of the
account. Login attempts that present it are counted against the device's own failure budget
and never against the account's, so a stranger who fails to guess the password, from however
many addresses, cannot lock the owner out of a browser they have used before. Attempts without
it (new browsers, scripts, Coder's CLI) share the per-client and per-account budgets.

Format: `v1.<device id>.<expiry unix seconds>.<HMAC-SHA256 hex>`; the name carries a keyed
digest of the account's address, so one browser holds one cookie per account it signs in to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from service.auth.addresses import address_key

COOKIE_PREFIX: Final = "authsvc_device_"
_VERSION: Final = "v1"


@dataclass(frozen=True)
class DeviceCookie:
    """A cookie to set: name, value and lifetime in seconds."""

    name: str
    value: str
    max_age: int


class DeviceCookies:
    """Issues and checks device cookies."""

    def __init__(self, secret: str, lifetime: float) -> None:
        self._key = hmac.new(secret.encode(), b"authsvc/device-cookie/v1", hashlib.sha256).digest()
        self._lifetime = int(lifetime)

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    def name(self, email: str) -> str:
        """The cookie name for an account (a keyed digest: the address is not readable)."""
        return COOKIE_PREFIX + self._mac("name", address_key(email))[:16]

    def issue(self, email: str, now: float) -> DeviceCookie:
        """A new cookie for a browser that just signed in to `email`'s account."""
        device = secrets.token_hex(16)
        expires = str(int(now) + self._lifetime)
        mac = self._mac("device", device, expires, address_key(email))
        return DeviceCookie(
            self.name(email), f"{_VERSION}.{device}.{expires}.{mac}", self._lifetime
        )

    def verify(self, email: str, value: str | None, now: float) -> str | None:
        """The device id if `value` is a live cookie for `email`'s account, else None."""
        if not value or len(value) > 200:
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != _VERSION or not parts[2].isascii():
            return None
        if not parts[2].isdigit():
            return None
        _, device, expires, mac = parts
        expected = self._mac("device", device, expires, address_key(email))
        if not hmac.compare_digest(mac.encode(), expected.encode()) or int(expires) <= now:
            return None
        return device
