"""Coder's password policy (`userpassword.Validate`): entropy >= 52 bits, then <= 64 bytes.

The entropy estimate reproduces wagslane/go-password-validator v0.3.0, quirks included, so
that the same passwords pass and fail with the same messages as on Coder. The Go code deletes
runes from a slice inside nested loops (quadratic); here each step is a generator that reads
its input once, left to right, and decides every character as it passes (kept or dropped),
so the whole estimate is linear. `check_password` also stops reading as soon as the kept
characters are worth 52 bits: a long password costs no more than a short strong one, and the
answer is the same, because kept characters are never taken back (the count only grows).
`tests/auth/test_policy.py` checks the results against a literal port of the Go code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Final

MIN_ENTROPY: Final = 52.0
MAX_BYTES: Final = 64

_REPLACE: Final = "!@$&*"
_SEP: Final = "_-., "
_OTHER: Final = "\"#%'()+/:;<=>?[\\]^{|}~"
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz"
_UPPER: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS: Final = "0123456789"
_CLASSES: Final = tuple(frozenset(k) for k in (_REPLACE, _SEP, _OTHER, _LOWER, _UPPER, _DIGITS))
_CLASSED: Final = frozenset().union(*_CLASSES)
_SPECIALS: Final = (_CLASSES[0], _CLASSES[1], _CLASSES[2])

_FORWARD: Final = ("0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm", _LOWER)
# Every sequence is applied forwards, then every one backwards (the Go code's order).
_SEQUENCES: Final = tuple(
    {c: i for i, c in enumerate(seq)} for seq in (*_FORWARD, *(s[::-1] for s in _FORWARD))
)


def _base(password: str) -> int:
    """Sum of the sizes of the character classes present, plus 1 per unclassed character."""
    chars = set(password)
    base = len(chars - _CLASSED)
    return base + sum(len(k) for k in _CLASSES if not chars.isdisjoint(k))


def _without_repeats(chars: Iterable[str]) -> Iterator[str]:
    # Go starts with prev = prevPrev = rune(0), so leading NUL characters are dropped too.
    prev = prev_prev = "\x00"
    for c in chars:
        if not (c == prev and c == prev_prev):
            yield c
        prev_prev, prev = prev, c


def _without_sequence(chars: Iterator[str], seq: dict[str, int]) -> Iterator[str]:
    """removeMoreThanTwoFromSequence, one pass.

    The Go loop compares rune i with seq[0], seq[1], ... in turn; a mismatch resets the match
    counter, a match keeps the rune (the first two of a run) or deletes it (later ones), and
    either way moves on to the next rune; when seq is used up, the outer loop keeps the rune
    it stands on. The counter survives from one outer iteration to the next. A sequence holds
    each character once, so the only position that can match a rune is its index in seq:
    every position before it is a mismatch, and none after it can match.
    """
    size = len(seq)
    matches = 0
    current = next(chars, None)
    while current is not None:
        j = 0
        while j < size and current is not None:
            at = seq.get(current)
            if at is None or at < j:
                matches = 0  # the rest of seq mismatches
                break
            if at > j:
                matches = 0  # seq[j:at] mismatched first
            matches += 1
            if matches <= 2:
                yield current
            current = next(chars, None)
            j = at + 1
        if current is not None:
            yield current  # the outer loop's own step keeps this rune
            current = next(chars, None)


def _reduced(password: str) -> Iterator[str]:
    """The characters the estimate counts, produced lazily."""
    chars: Iterator[str] = _without_repeats(password)
    for seq in _SEQUENCES:
        chars = _without_sequence(chars, seq)
    return chars


def _utf8_len(c: str) -> int:
    o = ord(c)
    return 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4


def _length(password: str) -> int:
    """UTF-8 length of the password once repeats and sequences are removed."""
    return sum(_utf8_len(c) for c in _reduced(password))


def entropy(password: str) -> float:
    """Estimated entropy in bits, as go-password-validator computes it."""
    base = _base(password)
    if base == 0:
        return 0.0
    return _length(password) * math.log2(base)


def _strong_enough(password: str) -> bool:
    """entropy(password) >= MIN_ENTROPY, reading only as far as needed to know."""
    base = _base(password)
    if base <= 1:
        return False  # log2(1) = 0: no length is enough
    bits_per_byte = math.log2(base)
    total = 0
    for c in _reduced(password):
        total += _utf8_len(c)
        if total * bits_per_byte >= MIN_ENTROPY:
            return True
    return False


def check_password(password: str) -> str | None:
    """The policy error text for `password`, or None when it is acceptable."""
    if not _strong_enough(password):
        chars = set(password)
        hints: list[str] = []
        if any(chars.isdisjoint(k) for k in _SPECIALS):
            hints.append("including more special characters")
        if chars.isdisjoint(_CLASSES[3]):
            hints.append("using lowercase letters")
        if chars.isdisjoint(_CLASSES[4]):
            hints.append("using uppercase letters")
        if chars.isdisjoint(_CLASSES[5]):
            hints.append("using numbers")
        if hints:
            return f"insecure password, try {', '.join(hints)} or using a longer password"
        return "insecure password, try using a longer password"
    if len(password.encode()) > MAX_BYTES:
        return f"password must be no more than {MAX_BYTES} characters"
    return None
