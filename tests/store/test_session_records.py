"""The packed session record (store/sessions.py): what is written reads back unchanged, in
little space, and records of earlier versions still read."""

from __future__ import annotations

import pytest

from service.auth.sessions import Session, hash_secret
from service.store.sessions import _pack, _unpack

NOW = 1_790_000_000.123
USER = "8c5f6d0e-2b1a-4c3d-9e8f-0a1b2c3d4e5f"


def _session(**changes: object) -> Session:
    base = Session(
        id="AbCdEfGh12",
        user_id=USER,
        hashed_secret=hash_secret("s3cret"),
        created_at=NOW,
        expires_at=NOW + 86400,
        last_used=NOW,
        lifetime=86400,
        login_type="password",
        ip="203.0.113.7",
        epoch=3,
    )
    return Session(**{**base.__dict__, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"login_type": "oidc", "ip": "2001:db8::1", "last_used": NOW + 4000.5},
        {"user_id": "not-a-uuid|with a bar"},
        {"user_id": USER.upper()},  # not canonical: kept as it is
        {
            "login_type": "token",
            "last_used": 0.0,
            "scopes": ("workspace:read", "template:read"),
            "allow_list": ("workspace:*",),
            "token_name": "ci|deploy,prod",
        },
        {"login_type": "some-future-provider", "epoch": 0},
    ],
)
def test_round_trip(changes: dict[str, object]) -> None:
    """Every field reads back as written (times to the millisecond), whatever the user id,
    login type or token name holds."""
    session = _session(**changes)
    created = int(session.created_at * 1000) / 1000
    expected = Session(
        **{
            **session.__dict__,
            "created_at": created,
            "expires_at": (int(session.created_at * 1000) + 86_400_000) / 1000,
            "last_used": int(session.last_used * 1000) / 1000 if session.last_used else 0.0,
        }
    )
    assert _unpack(session.id, _pack(session)) == expected


def test_a_session_record_is_small() -> None:
    """A browser session's record fits in 120 bytes (the user id and the digest packed)."""
    assert len(_pack(_session())) <= 120


def test_version_3_records_still_read() -> None:
    """A record written before epochs existed reads with epoch 0, so a user whose epoch has
    been raised since has it refused."""
    digest = "x" * 43
    times = "1790000000123|1790086400123|1790000000123"
    value = f"3|{USER}|{digest}|{times}|86400|password|10.0.0.1|||"
    session = _unpack("AbCdEfGh12", value)
    assert session is not None
    assert (session.user_id, session.epoch, session.login_type) == (USER, 0, "password")
    assert session.expires_at == 1790086400.123


def test_garbage_is_no_session() -> None:
    """A record of an unknown version, or cut short, is no session (not an exception)."""
    assert _unpack("AbCdEfGh12", "9|whatever") is None
    assert _unpack("AbCdEfGh12", _pack(_session()).rsplit("|", 4)[0]) is None
