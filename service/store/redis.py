"""Opening the Redis connection named by REDIS_URL (or the embedded in-process store)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.settings import MEMORY_URL

Redis = aioredis.Redis


def connect(url: str, timeout: float) -> Redis:
    """A client for `url`; `memory://` gives an in-process fakeredis (embedded mode).

    Every command is bounded by `timeout` (connect and read), and a failed command is not
    retried, so that an outage turns into a prompt 503 rather than a hang.
    """
    if url == MEMORY_URL:
        import fakeredis  # only the embedded mode needs it

        fake: Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
        return fake
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"unsupported AUTHSVC_REDIS_URL scheme in {url.split('://')[0]!r}: "
            "use memory://, redis://, rediss:// or unix://"
        )
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
        "health_check_interval": 30,
    }
    client: Redis = aioredis.from_url(url, **options)
    return client
