"""RedisAuditLog: an append-only trail of security events in a capped Redis stream."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, cast

from service.store import keys
from service.store.redis import STORE_ERRORS, Redis

log = logging.getLogger(__name__)


class RedisAuditLog:
    """Appends events; the stream keeps about `max_entries` (older ones are trimmed)."""

    def __init__(self, redis: Redis, max_entries: int) -> None:
        self._redis = redis
        self._max = max_entries

    async def append(self, event: Mapping[str, str]) -> None:
        """Append one event. A store outage is logged, never raised: the request stands."""
        try:
            fields: dict[Any, Any] = dict(event)
            await self._redis.xadd(keys.audit_stream(), fields, maxlen=self._max, approximate=True)
        except STORE_ERRORS:
            log.error("could not append to the audit trail: %s", json.dumps(dict(event)))

    async def tail(self, count: int) -> list[dict[str, Any]]:
        """The newest `count` events, oldest first."""
        entries = cast(list[Any], await self._redis.xrevrange(keys.audit_stream(), count=count))
        return [{"id": entry_id, **fields} for entry_id, fields in reversed(entries)]
