"""Session token format and parsing."""

from __future__ import annotations

import re

import pytest

from service.auth.sessions import hash_secret, parse_token
from service.errors import ApiError


def test_parse_valid_token() -> None:
    """A 10-22 token splits into id and secret."""
    assert parse_token("abcdefghij-0123456789012345678901") == (
        "abcdefghij",
        "0123456789012345678901",
    )


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("", "incorrect amount of API key parts, expected 2 got 1"),
        ("a-b-c", "incorrect amount of API key parts, expected 2 got 3"),
        ("abc-0123456789012345678901", "invalid API key ID length, expected 10 got 3"),
        ("abcdefghij-", "invalid API key secret length, expected 22 got 0"),
    ],
)
def test_parse_errors(token: str, detail: str) -> None:
    """Malformed tokens raise 401 with Coder's format detail."""
    with pytest.raises(ApiError) as info:
        parse_token(token)
    assert info.value.status == 401
    assert info.value.detail == f"Invalid API key format: {detail}"


def test_secret_hash_is_sha256_hex() -> None:
    """Only SHA-256 of the secret is stored."""
    assert re.fullmatch(r"[0-9a-f]{64}", hash_secret("x"))
    assert hash_secret("x") != hash_secret("y")
