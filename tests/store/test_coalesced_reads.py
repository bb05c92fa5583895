"""CoalescedReader: concurrent GETs share a round trip, each caller gets its own key's value,
and an outage fails every waiting caller at once."""

from __future__ import annotations

import asyncio

import pytest
import redis.exceptions

from service.store.redis import STORE_ERRORS, CoalescedReader, connect
from tests.support import free_port


async def test_concurrent_gets_share_one_round_trip(redis_url: str) -> None:
    """Fifty GETs of the same turn (repeated keys and missing ones among them) are one
    round trip, and each caller gets the value of the key it asked for."""
    client = connect(redis_url, timeout=2)
    try:
        await client.mset({f"coalesce:{i}": f"value-{i}" for i in range(20)})
        reader = CoalescedReader(client)
        asked = [f"coalesce:{i % 25}" for i in range(50)]  # 20..24 do not exist
        values = await asyncio.gather(*[reader.get(key) for key in asked])
        assert values == [f"value-{i % 25}" if i % 25 < 20 else None for i in range(50)]
        assert reader.round_trips == 1
        assert await reader.get("coalesce:3") == "value-3"  # a lone GET: its own round trip
        assert reader.round_trips == 2
    finally:
        await client.aclose()


async def test_a_batch_is_bounded(redis_url: str) -> None:
    """A turn with more distinct keys than the batch limit sends several round trips."""
    client = connect(redis_url, timeout=2)
    try:
        reader = CoalescedReader(client, max_batch=8)
        values = await asyncio.gather(*[reader.get(f"coalesce:none:{i}") for i in range(20)])
        assert values == [None] * 20
        assert reader.round_trips == 3
    finally:
        await client.aclose()


async def test_an_outage_fails_every_waiter() -> None:
    """With Redis unreachable, every caller of the batch gets the connection error (a 503 for
    each request), promptly, and none is left waiting."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0", timeout=1)
    try:
        reader = CoalescedReader(client)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*[reader.get(f"k{i}") for i in range(5)], return_exceptions=True),
            timeout=10,
        )
        assert all(isinstance(o, STORE_ERRORS) for o in outcomes), outcomes
        assert all(isinstance(o, redis.exceptions.ConnectionError) for o in outcomes)
    finally:
        await client.aclose()


async def test_a_cancelled_caller_does_not_disturb_the_others(redis_url: str) -> None:
    """A request that goes away (its task cancelled) while waiting leaves the batch intact."""
    client = connect(redis_url, timeout=2)
    try:
        await client.set("coalesce:kept", "kept")
        reader = CoalescedReader(client)
        gone = asyncio.ensure_future(reader.get("coalesce:kept"))
        kept = asyncio.ensure_future(reader.get("coalesce:kept"))
        await asyncio.sleep(0)
        gone.cancel()
        assert await kept == "kept"
        with pytest.raises(asyncio.CancelledError):
            await gone
    finally:
        await client.aclose()
