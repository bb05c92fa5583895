"""The password policy port: spec §4.2's worked-values table, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.auth.policy import _base, _length, check_password, entropy
from tests.auth import literal_port

WEAK_ALL = (
    "insecure password, try including more special characters, using uppercase letters, "
    "using numbers or using a longer password"
)
TABLE = [
    ("password", 26, 8, 37.6, WEAK_ALL),
    ("notstrong", 26, 9, 42.3, WEAK_ALL),
    (
        "hunter2",
        36,
        7,
        36.2,
        "insecure password, try including more special characters, using uppercase letters or "
        "using a longer password",
    ),
    (
        "abcABC123",
        62,
        7,
        41.7,
        "insecure password, try including more special characters or using a longer password",
    ),
    (
        "12345678901234567890",
        10,
        6,
        19.9,
        "insecure password, try including more special characters, using lowercase letters, "
        "using uppercase letters or using a longer password",
    ),
    ("Passw0rd!", 67, 9, 54.6, None),
    ("SomeSecurePassword!", 57, 19, 110.8, None),
    ("lowercaseonlypassword", 26, 21, 98.7, None),
    (
        "\u00c4\u00d6\u00dc\u00e4\u00f6\u00fc\u00df\u00c4\u00d6\u00dc\u00e4\u00f6\u00fc",
        7,
        26,
        73.0,
        None,
    ),
    ("aA1!" * 16, 67, 64, 388.2, None),
]


@pytest.mark.parametrize(("password", "base", "length", "bits", "result"), TABLE)
def test_worked_values(
    password: str, base: int, length: int, bits: float, result: str | None
) -> None:
    """Base, length, entropy and message match the spec's table row."""
    assert _base(password) == base
    assert _length(password) == length
    assert round(entropy(password), 1) == bits
    assert check_password(password) == result


def test_too_long_after_entropy() -> None:
    """65 bytes is refused with the length message; a weak long password reports entropy."""
    assert check_password("aA1!" * 16 + "x") == "password must be no more than 64 characters"
    assert (check_password("a" * 80) or "").startswith("insecure password")


def test_all_special_classes_drop_the_special_hint() -> None:
    """With replace, separator and other specials present, only the remaining hints appear."""
    assert check_password("!_#") == (
        "insecure password, try using lowercase letters, using uppercase letters, using numbers "
        "or using a longer password"
    )
    assert check_password("!_#aA1") == "insecure password, try using a longer password"


def test_sequence_quirks_are_ported() -> None:
    """Keyboard and alphabet runs shrink the length as the library does."""
    assert _length("abcdef") == 2
    assert _length("qwerty") == 2
    assert _length("aaaa") == 2
    assert _length("fedcba") == 2
    assert _length("\x00\x00x") == 1  # Go's initial prev runes are NUL


_ALPHABET = "aAbBcdezZ019!@_-. #é\u00c4\x00qwertyuiopasdfghjklzxcvbnm9876543210"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=120) | st.text(max_size=80))
def test_linear_port_matches_the_literal_port(password: str) -> None:
    """The linear estimate gives the literal Go port's base, length, entropy and message."""
    assert _base(password) == literal_port._base(password)
    assert _length(password) == literal_port._length(password)
    assert entropy(password) == literal_port.entropy(password)
    assert check_password(password) == literal_port.check_password(password)


@pytest.mark.parametrize(
    "password",
    [
        "abcdefghijklmnopqrstuvwxyz" * 5,
        "zyxwvutsrqponmlkjihgfedcba" * 5,
        "0123456789" * 9 + "qwertyuiop" * 3,
        "aaab" * 40,
        "\x00\x00\x00Aa1!" * 20,
        "abcabcabc0120120zxcvbnmmnbvcxz" * 4,
        "é" * 100,
        "Passw0rd!" * 10,
    ],
)
def test_long_passwords_match_the_literal_port(password: str) -> None:
    """Long runs of sequences and repeats: the same answers as the literal port."""
    assert _length(password) == literal_port._length(password)
    assert check_password(password) == literal_port.check_password(password)
