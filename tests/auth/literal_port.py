"""The reference for the password policy: a line-by-line port of go-password-validator v0.3.0.

Quadratic (it deletes from a list inside a loop, as the Go code deletes from a slice), so the
service does not run it; tests check that `service.auth.policy` gives the same answers.
"""

from __future__ import annotations

import math
from typing import Final

MIN_ENTROPY: Final = 52.0
MAX_BYTES: Final = 64

_REPLACE: Final = "!@$&*"
_SEP: Final = "_-., "
_OTHER: Final = "\"#%'()+/:;<=>?[\\]^{|}~"
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz"
_UPPER: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS: Final = "0123456789"
_CLASSES: Final = (_REPLACE, _SEP, _OTHER, _LOWER, _UPPER, _DIGITS)

_SEQUENCES: Final = ("0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm", _LOWER)


def _base(password: str) -> int:
    present: set[str] = set()
    base = 0
    for c in set(password):
        cls = next((k for k in _CLASSES if c in k), None)
        if cls is None:
            base += 1
        else:
            present.add(cls)
    return base + sum(len(k) for k in present)


def _remove_repeats(s: str) -> str:
    # Go starts with prev = prevPrev = rune(0), so leading NUL characters are dropped too.
    out: list[str] = []
    prev = prev_prev = "\x00"
    for c in s:
        if not (c == prev and c == prev_prev):
            out.append(c)
        prev_prev, prev = prev, c
    return "".join(out)


def _remove_sequence(s: str, seq: str) -> str:
    # Literal port of removeMoreThanTwoFromSequence: `matches` survives across outer
    # iterations, and the outer loop's own i++ runs after each inner pass.
    runes = list(s)
    matches = 0
    i = 0
    while i < len(runes):
        for ch in seq:
            if i >= len(runes):
                break
            if runes[i] != ch:
                matches = 0
                continue
            matches += 1
            if matches > 2:
                del runes[i]
            else:
                i += 1
        i += 1
    return "".join(runes)


def _length(password: str) -> int:
    password = _remove_repeats(password)
    for seq in _SEQUENCES:
        password = _remove_sequence(password, seq)
    for seq in _SEQUENCES:
        password = _remove_sequence(password, seq[::-1])
    return len(password.encode())


def entropy(password: str) -> float:
    """Estimated entropy in bits, as go-password-validator computes it."""
    base = _base(password)
    if base == 0:
        return 0.0
    return _length(password) * math.log2(base)


def check_password(password: str) -> str | None:
    """The policy error text for `password`, or None when it is acceptable."""
    if entropy(password) < MIN_ENTROPY:
        hints: list[str] = []
        if not all(any(c in k for c in password) for k in (_REPLACE, _SEP, _OTHER)):
            hints.append("including more special characters")
        if not any(c in _LOWER for c in password):
            hints.append("using lowercase letters")
        if not any(c in _UPPER for c in password):
            hints.append("using uppercase letters")
        if not any(c in _DIGITS for c in password):
            hints.append("using numbers")
        if hints:
            return f"insecure password, try {', '.join(hints)} or using a longer password"
        return "insecure password, try using a longer password"
    if len(password.encode()) > MAX_BYTES:
        return f"password must be no more than {MAX_BYTES} characters"
    return None
