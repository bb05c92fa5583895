"""RedisChangeFeed: tells every replica which sessions and users changed (cache eviction)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from service.store import keys
from service.store.redis import STORE_ERRORS, Redis

log = logging.getLogger(__name__)

Listener = Callable[[str, str], None]


class RedisChangeFeed:
    """Publishes `kind:id` on a channel; listeners run locally first, then on every replica.

    Pub/sub is fire-and-forget: a replica that misses a message (reconnecting) serves a stale
    cache entry only until it expires (SESSION_CACHE_TTL), never longer.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._listeners: list[Listener] = []
        self._stopping = asyncio.Event()

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(kind, id)` for every change, local or remote."""
        self._listeners.append(listener)

    def _dispatch(self, kind: str, ident: str) -> None:
        for listener in self._listeners:
            listener(kind, ident)

    async def publish(self, kind: str, ident: str) -> None:
        """Announce a change: applied here at once, then sent to the other replicas."""
        self._dispatch(kind, ident)
        try:
            await self._redis.publish(keys.changes_channel(), f"{kind}:{ident}")
        except STORE_ERRORS:
            log.warning("could not announce a change; other replicas catch up within the cache TTL")

    def stop(self) -> None:
        """Make `run` return (within a tenth of a second when connected)."""
        self._stopping.set()

    async def run(self) -> None:
        """Receive other replicas' changes until stopped, reconnecting after outages.

        Stopped by `stop`, not by cancellation: cancelling a connection in the middle of a
        subscribe can leave its close waiting forever.
        """
        while not self._stopping.is_set():
            pubsub: Any = self._redis.pubsub()
            try:
                await pubsub.subscribe(keys.changes_channel())
                while not self._stopping.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if message and isinstance(message.get("data"), str):
                        kind, _, ident = message["data"].partition(":")
                        self._dispatch(kind, ident)
            except Exception as exc:  # outages and cluster hiccups alike
                log.warning("change feed interrupted (%s); reconnecting", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=1.0)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    await asyncio.wait_for(pubsub.aclose(), timeout=2.0)
