"""authcheck's batch reader: it remembers what a batch's bytes read as, within its bound."""

from __future__ import annotations

import gc
import json
import tracemalloc
import uuid
from collections.abc import Callable

import pytest

from service.api.batches import BatchReader, read_checks


def _batch(checks: int, width: int = 36) -> bytes:
    """A batch unlike any other, of `checks` checks whose owner ids are `width` long."""
    tag = uuid.uuid4().hex[:6]
    return json.dumps(
        {
            "checks": {
                f"{tag}{i}": {
                    "action": "read",
                    "object": {"resource_type": "workspace", "owner_id": "x" * width},
                }
                for i in range(checks)
            }
        }
    ).encode()


def test_a_remembered_batch_reads_as_a_fresh_one() -> None:
    """The same bytes read the same checks as `read_checks`, and ill-typed ones stay None."""
    reader = BatchReader()
    good, bad = _batch(3), b'{"checks":{"x":{"action":7}}}'
    for _ in range(2):
        assert reader.read(good) == read_checks(good)
        assert reader.read(bad) is None
    assert len(reader) == 2


def test_a_remembered_batch_cannot_be_changed_by_its_reader() -> None:
    """The kept mapping is read-only: no request can alter what the next one reads."""
    reader = BatchReader()
    body = _batch(1)
    checks = reader.read(body)
    assert checks is not None
    with pytest.raises(TypeError):
        checks["new"] = next(iter(checks.values()))  # type: ignore[index]
    assert reader.read(body) == read_checks(body)


def test_the_memory_is_bounded_and_the_oldest_batch_goes_first() -> None:
    """Past its byte bound the oldest batch is forgotten; a body over MAX_BODY is never kept."""
    reader = BatchReader(max_bytes=20_000)
    bodies = [_batch(5) for _ in range(40)]
    for body in bodies:
        reader.read(body)
        assert reader.held_bytes <= 20_000
    assert 0 < len(reader) < 40
    kept = len(reader)
    reader.read(bodies[-1])  # the newest is still there: nothing is re-read or evicted
    assert len(reader) == kept
    reader.read(bodies[0])  # the oldest was forgotten: it is read again and kept
    assert reader.held_bytes <= 20_000
    big = _batch(2, width=BatchReader.MAX_BODY)
    assert len(big) > BatchReader.MAX_BODY
    before = len(reader)
    assert reader.read(big) is not None
    assert len(reader) <= before


def test_the_charge_covers_what_a_batch_really_holds() -> None:
    """What the reader charges is at least what tracemalloc sees it hold, for tiny checks,
    ordinary ones and long strings alike."""

    def nulls() -> bytes:  # the most checks a kept body can hold: {"checks":{"k0":null,...}}
        tag = uuid.uuid4().hex[:4]
        checks = {f"{tag}{i}": None for i in range(550)}
        return json.dumps({"checks": checks}, separators=(",", ":")).encode()

    makers: list[Callable[[], bytes]] = [nulls, lambda: _batch(10), lambda: _batch(2, 3000)]
    for make in makers:
        reader = BatchReader()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(20):
                body = make()
                assert len(body) <= BatchReader.MAX_BODY
                reader.read(body)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(reader) == 20
        assert held <= reader.held_bytes, (held, reader.held_bytes)
