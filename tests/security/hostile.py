"""The worst request bodies we could build for each anonymous endpoint (tests and bench/)."""

from __future__ import annotations

from typing import Final

# (path, body template with one %s for the hostile value)
ANONYMOUS: Final = [
    ("/api/v2/users/login", '{"email":%s,"password":"x"}'),
    ("/api/v2/users/first", '{"email":%s,"username":"a","password":"x"}'),
    ("/api/v2/users/otp/request", '{"email":%s}'),
    (
        "/api/v2/users/otp/change-password",
        '{"email":%s,"password":"x","one_time_passcode":"x"}',
    ),
    ("/api/v2/users/validate-password", '{"password":%s}'),
]


def email_worst(n: int) -> str:
    """Exponential for a backtracking engine running go-playground's email pattern."""
    return '"' + " " * (n - 1)


def password_worst(n: int) -> str:
    """Repeats, forward and backward sequences: quadratic for the Go code as written."""
    unit = "aaaa" + "abcdefghijklmnopqrstuvwxyz" + "zyxwvutsrqponmlkjihgfedcba" + "0123456789"
    return (unit * (n // len(unit) + 1))[:n]


def json_worst(n: int) -> list[bytes]:
    """Invalid JSON with long valid prefixes, deep nesting, escapes and huge numbers."""
    elements = n // 2
    return [
        b"[" + b"0," * (elements - 2) + b"x",
        b"[" * 200 + b"0," * (elements - 200) + b"x",
        b"[" + b"[[[[[0]]]]]," * (n // 12 - 1) + b"x",
        b'{"email":"' + b"\\n" * (elements - 8) + b"\\x",
        b'{"email":"' + b"\\ud800" * (n // 6 - 4) + b'"}',
        b'{"email":' + b"9" * (n - 12) + b"}",
        b"[" * (n // 2),
    ]


def hostile_bodies(template: str, size: int) -> list[tuple[str, bytes]]:
    """(what, body) pairs of at most `size` bytes that hit each expensive step of an endpoint."""
    room = size - len(template)
    bodies = [
        ("email pattern", template % ('"\\"' + " " * (room - 4) + '"')),
        ("password strength", template % ('"' + password_worst(room - 2) + '"')),
        ("huge number", template % ("9" * room)),
        ("long string", template % ('"' + email_worst(room - 2).replace('"', "'") + '"')),
    ]
    named = [(what, body.encode()[:size]) for what, body in bodies]
    return named + [(f"invalid JSON {i + 1}", b[:size]) for i, b in enumerate(json_worst(size))]
