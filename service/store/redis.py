"""Opening the Redis named by REDIS_URL: embedded, standalone, Sentinel or Cluster."""

from __future__ import annotations

import asyncio
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from service.settings import MEMORY_URL

Redis = aioredis.Redis

# What a Redis outage raises (unreachable, or no answer within REDIS_TIMEOUT). Everything that
# turns an outage into a 503, a retry or a log line catches exactly this.
STORE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    hosts = []
    for part in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = part.strip().rpartition(":")
        if not host:
            host, port = port, str(default_port)
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def _password(netloc: str) -> str | None:
    if "@" not in netloc:
        return None
    userinfo = netloc.rsplit("@", 1)[0]
    return unquote(userinfo.partition(":")[2] or userinfo) or None


def connect(url: str, timeout: float) -> Redis:
    """A client for `url`. Raises ValueError for an unsupported URL.

    - `memory://`: in-process fakeredis (embedded mode);
    - `redis://`, `rediss://`, `unix://`: one server;
    - `redis+sentinel://[:password@]host:port[,host:port...]/SERVICE[/DB]`: the master that the
      Sentinels name, followed across failovers;
    - `redis+cluster://[:password@]host:port[,host:port...]`: a Redis Cluster (every multi-key
      operation of the service keeps its keys in one hash slot).

    Every command is bounded by `timeout` (connect and read) and is not retried, so that an
    outage turns into a prompt 503 rather than a hang.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    if url == MEMORY_URL:
        import fakeredis  # only the embedded mode needs it

        fake: Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
        return fake
    scheme = url.split("://", 1)[0]
    if scheme in ("redis", "rediss", "unix"):
        client: Redis = aioredis.from_url(
            url, retry_on_timeout=False, health_check_interval=30, **options
        )
        return client
    parts = urlsplit(url)
    if scheme == "redis+sentinel":
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ValueError("redis+sentinel:// needs the service name: .../mymaster")
        password = _password(parts.netloc)
        sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
            _hosts(parts.netloc, 26379),
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
            **options,
        )
        master = sentinel.master_for(
            path[0], db=int(path[1]) if len(path) > 1 else 0, password=password
        )
        return cast(Redis, master)
    if scheme == "redis+cluster":
        nodes = [ClusterNode(host, port) for host, port in _hosts(parts.netloc, 6379)]
        cluster = RedisCluster(startup_nodes=nodes, password=_password(parts.netloc), **options)
        # RedisCluster offers every command the store uses, routed by key slot.
        return cast(Redis, cluster)
    raise ValueError(
        f"unsupported AUTHSVC_REDIS_URL scheme {scheme!r}: use memory://, redis://, rediss://, "
        "unix://, redis+sentinel:// or redis+cluster://"
    )


async def hgetall_many(redis: Redis, keys: list[str], batch: int = 512) -> list[dict[str, str]]:
    """HGETALL of many keys, pipelined in batches (one round trip per batch, not per key)."""
    out: list[dict[str, str]] = []
    for start in range(0, len(keys), batch):
        pipe = redis.pipeline(transaction=False)
        for key in keys[start : start + batch]:
            pipe.hgetall(key)
        out += cast(list[dict[str, str]], await pipe.execute())
    return out


class CoalescedReader:
    """GETs asked for in the same turn of the event loop, sent as one MGET (a pipeline on a
    Cluster).

    Concurrent requests that each need a key (a session not cached in the process) share one
    round trip: the first asks for a flush on the next turn, the others join it. A failure of
    the round trip fails every caller waiting on it with the same error (an outage is a 503
    for each).
    """

    def __init__(self, redis: Redis, max_batch: int = 256) -> None:
        self._redis = redis
        # One MGET where every key lives on one server; a Cluster's keys spread over slots.
        self._cluster = isinstance(redis, RedisCluster)
        self._max_batch = max_batch
        self._pending: dict[str, list[asyncio.Future[str | None]]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self.round_trips = 0  # for tests and the benchmark

    async def get(self, key: str) -> str | None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[str | None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.setdefault(key, []).append(waiter)
        if len(self._pending) >= self._max_batch:
            self._flush()
        return await waiter

    def _flush(self) -> None:
        batch, self._pending = self._pending, {}
        if batch:
            task = asyncio.ensure_future(self._fetch(batch))
            self._flushes.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(self._flushes.discard)

    async def _fetch(self, batch: dict[str, list[asyncio.Future[str | None]]]) -> None:
        keys = list(batch)
        self.round_trips += 1
        try:
            if len(keys) == 1:
                values = [await self._redis.get(keys[0])]
            elif self._cluster:
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.get(key)
                values = await pipe.execute()
            else:
                values = await self._redis.mget(keys)
        except BaseException as exc:  # every waiter gets the round trip's own outcome
            for waiters in batch.values():
                for waiter in waiters:
                    if waiter.done():
                        continue
                    if isinstance(exc, Exception):
                        waiter.set_exception(exc)
                    else:
                        waiter.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        for key, value in zip(keys, values, strict=True):
            for waiter in batch[key]:
                if not waiter.done():
                    waiter.set_result(cast(str | None, value))
