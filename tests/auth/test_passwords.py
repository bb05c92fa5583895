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


class _Meter:
    """A fake clock and loop-thread CPU meter for HashCapacity."""

    def __init__(self) -> None:
        self.now = 0.0
        self.cpu = 0.0

    def run(self, seconds: float, load: float) -> None:
        self.now += seconds
        self.cpu += seconds * load


def test_hashing_leaves_a_core_to_a_busy_event_loop() -> None:
    """Above HASH_LOOP_BUSY of a core the loop keeps one: hashing gets one thread fewer (never
    fewer than one); below half of it, every thread again; in between, no change."""
    from service.auth.passwords import HashCapacity

    meter = _Meter()
    capacity = HashCapacity(4, 0.25, monotonic=lambda: meter.now, cpu=lambda: meter.cpu)
    assert capacity.limit == 4
    for load, expected in ((0.6, 3), (0.2, 3), (0.9, 3), (0.1, 4), (0.2, 4), (0.3, 3)):
        meter.run(0.1, load)
        capacity.sample()
        assert capacity.limit == expected, load
    single = HashCapacity(1, 0.25, monotonic=lambda: meter.now, cpu=lambda: meter.cpu)
    meter.run(0.1, 1.0)
    single.sample()
    assert single.limit == 1


def test_a_busy_loop_is_measured_on_its_own_thread() -> None:
    """The real meter: a loop thread spinning on the CPU reads as busy; one sleeping, idle."""
    import time

    from service.auth.passwords import HashCapacity

    capacity = HashCapacity(2, 0.25)
    end = time.perf_counter() + 0.1
    while time.perf_counter() < end:
        pass
    capacity.sample()
    assert capacity.limit == 1
    time.sleep(0.1)
    capacity.sample()
    assert capacity.limit == 2


async def test_hash_slots_are_shared_first_come_first_served() -> None:
    """No more hashes than the limit run at once; a raised limit lets waiters in at once; a
    waiter cancelled while queued (its client went away) holds no slot."""
    import asyncio

    from service.auth.passwords import HashCapacity

    meter = _Meter()
    capacity = HashCapacity(2, 0.25, monotonic=lambda: meter.now, cpu=lambda: meter.cpu)
    meter.run(0.1, 1.0)
    capacity.sample()
    assert capacity.limit == 1
    running: list[str] = []
    peak = 0
    release = asyncio.Event()

    async def job(name: str) -> None:
        nonlocal peak
        async with capacity.slot():
            running.append(name)
            peak = max(peak, len(running))
            await release.wait()
            running.remove(name)

    first = asyncio.create_task(job("a"))
    second = asyncio.create_task(job("b"))
    gone = asyncio.create_task(job("c"))
    third = asyncio.create_task(job("d"))
    await asyncio.sleep(0.01)
    assert running == ["a"]
    gone.cancel()
    meter.run(0.1, 0.0)
    capacity.sample()  # idle again: two slots
    await asyncio.sleep(0.01)
    assert running == ["a", "b"]
    release.set()
    await asyncio.gather(first, second, third)
    assert gone.cancelled()
    assert peak == 2
    assert running == []
    # Every slot was given back: two are free at once (a leaked one would block here).
    async with asyncio.timeout(1), capacity.slot(), capacity.slot():
        pass
