"""Email addresses and usernames: the one place that decides when two of them are the same.

An address matches a stored one only when the two are equal after lower-casing the ASCII
letters A-Z, which is how mail systems treat the domain and how virtually every mailbox
treats the local part. Unicode case folding is never used to *match*: `str.lower()` turns
KELVIN SIGN (U+212A) into "k", so an identity provider asserting "\u212aelly@corp.test" would
otherwise sign into kelly@corp.test's account.

The index key is stricter the other way round: NFKC-normalised and lower-cased, so that a
look-alike of an existing address (KELVIN SIGN, fullwidth letters, ...) lands on the same key
and cannot be registered as a second account, while `same_address` still refuses to treat it
as the first one. Every lookup by address goes through the user store, which applies both.
"""

from __future__ import annotations

import unicodedata
from typing import Final

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(value: str) -> str:
    """Lower-case A-Z only; every other character is left as it is."""
    return value.translate(_ASCII_LOWER)


def same_address(stored: str, asked: str) -> bool:
    """True when `asked` names the stored address (ASCII case-insensitive, nothing more)."""
    return ascii_lower(stored) == ascii_lower(asked)


def address_key(email: str) -> str:
    """The index and rate-limit key of an address: look-alikes share it (see module doc)."""
    return unicodedata.normalize("NFKC", email).lower()


def username_key(username: str) -> str:
    """The index key of a username (usernames are ASCII; nothing else may match one)."""
    return ascii_lower(username)
