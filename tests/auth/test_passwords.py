"""Password hashing: argon2id defaults, Coder PBKDF2 verification, rehash decisions."""

from __future__ import annotations

import argon2
import pytest

from service.auth.passwords import (
    MalformedHash,
    PasswordHasher,
    is_supported_hash,
    pbkdf2_hash,
)

SPEC_VECTOR = (
    "$pbkdf2-sha256$65535$AAECAwQFBgcICQoLDA0ODw$fkktLMxE8Y9DiYhAvkgycgXG4dmMgx2QPjPHcvGUgqOUtZZ"
    "IqlLeI9IOiNUDSop8K0+ilOpxj8DbRvcN62jkiw"
)


@pytest.fixture(scope="module")
def owasp() -> PasswordHasher:
    """The production default profile."""
    return PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1)


def test_pbkdf2_spec_vector() -> None:
    """Our PBKDF2 encoder reproduces the spec's test vector byte for byte."""
    assert pbkdf2_hash("SomeSecurePassword!", bytes(range(16))) == SPEC_VECTOR


def test_default_hash_is_argon2id_owasp(owasp: PasswordHasher) -> None:
    """New hashes are argon2id with m=19456, t=2, p=1 and verify."""
    hashed = owasp.hash("pw")
    params = argon2.extract_parameters(hashed)
    assert hashed.startswith("$argon2id$")
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19456, 2, 1)
    assert owasp.verify(hashed, "pw").ok
    assert not owasp.verify(hashed, "nope").ok
    assert not owasp.verify(hashed, "pw").needs_rehash


def test_pbkdf2_verifies_and_always_needs_rehash(owasp: PasswordHasher) -> None:
    """Coder hashes verify (any iteration count) and are flagged for upgrade."""
    verdict = owasp.verify(SPEC_VECTOR, "SomeSecurePassword!")
    assert verdict.ok and verdict.needs_rehash
    assert not owasp.verify(SPEC_VECTOR, "wrong").ok
    old = pbkdf2_hash("early", b"0123456789abcdef", 1024)
    assert owasp.verify(old, "early").ok


def test_weaker_argon2_needs_rehash(owasp: PasswordHasher) -> None:
    """A hash below the configured parameters is flagged for upgrade."""
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash("pw")
    verdict = owasp.verify(weak, "pw")
    assert verdict.ok and verdict.needs_rehash


def test_missing_hash_never_matches(owasp: PasswordHasher) -> None:
    """An empty stored hash does the dummy work and never matches (no `hunter2` quirk)."""
    for password in ("hunter2", "", "anything"):
        assert not owasp.verify("", password).ok
        assert not owasp.verify(None, password).ok


@pytest.mark.parametrize(
    "stored",
    ["$md5$x", "$pbkdf2-sha256$short", "$pbkdf2-sha256$x$y$z" + "a" * 60, "$argon2id$junk"],
)
def test_malformed_hashes_raise(owasp: PasswordHasher, stored: str) -> None:
    """Unknown or broken formats raise MalformedHash (answered as 500 by login)."""
    with pytest.raises(MalformedHash):
        owasp.verify(stored, "pw")
    assert not is_supported_hash(stored)


def test_supported_hash_detection(owasp: PasswordHasher) -> None:
    """Importable hashes: argon2 and Coder PBKDF2."""
    assert is_supported_hash(SPEC_VECTOR)
    assert is_supported_hash(owasp.hash("x"))


def test_hashing_threads_yield_to_the_event_loop() -> None:
    """The hashing pool's threads run HASH_NICE steps below the thread that made them (so
    logins cannot starve the event loop), and with 0 at its priority."""
    import os
    import threading

    from service.auth.passwords import hashing_pool

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for nice, expected in ((7, min(19, base + 7)), (0, base)):
        pool = hashing_pool(1, nice)
        try:
            thread = pool.submit(threading.get_native_id).result()
            assert pool.submit(os.getpriority, os.PRIO_PROCESS, thread).result() == expected
        finally:
            pool.shutdown()
