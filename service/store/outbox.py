"""RedisOutbox: a durable job queue on a Redis stream with a consumer group.

Each job is delivered to one consumer of the group. Done jobs are acknowledged and deleted;
failed jobs wait in a sorted set until their next attempt; a job whose consumer died is
reclaimed by another after `claim_after`. All keys share the `{outbox}` hash slot.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, cast

import redis.exceptions

from service.mail.jobs import Delivery, Job
from service.store import keys
from service.store.redis import Redis

GROUP = "workers"
DONE_TTL = 86400
DEAD_TTL = 7 * 86400
DEAD_KEEP = 1000

# Move due retries back onto the stream. KEYS: retry zset, stream. ARGV: now, max.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', member)
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


# Acknowledge and delete a stream entry, and record where the job went, atomically.
# KEYS: stream, target. ARGV: group, entry id, how, then per `how`:
#   done:  ttl                (target: the job's done-mark)
#   retry: due, job           (target: the retry zset)
#   dead:  ttl, record, keep  (target: the dead-letter list)
_FINISH = """
if ARGV[3] == 'done' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
elseif ARGV[3] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
else
  redis.call('LPUSH', KEYS[2], ARGV[5])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""


def _job(fields: Mapping[str, str]) -> Job:
    raw = json.loads(fields["job"])
    return Job(raw["id"], raw["kind"], raw["data"], int(raw.get("attempts", 0)))


def _encode(job: Job) -> str:
    return json.dumps(
        {"id": job.id, "kind": job.kind, "data": job.data, "attempts": job.attempts},
        sort_keys=True,
    )


class RedisOutbox:
    """The outbox's queue operations (JobQueue for producers, OutboxStore for the worker)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._stream = keys.outbox_stream()
        self._promote = redis.register_script(_PROMOTE)
        self._finish = redis.register_script(_FINISH)

    async def enqueue(self, kind: str, data: Mapping[str, Any]) -> None:
        job = Job(uuid.uuid4().hex, kind, dict(data), 0)
        await self._redis.xadd(self._stream, {"job": _encode(job)})

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        reply = await self._redis.xreadgroup(
            GROUP, consumer, {self._stream: ">"}, count=count, block=block_ms
        )
        out: list[Delivery] = []
        for _stream, entries in cast(list[Any], reply or []):
            out += [Delivery(entry_id, _job(fields)) for entry_id, fields in entries if fields]
        return out

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]:
        reply = await self._redis.xautoclaim(
            self._stream, GROUP, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        entries = reply[1]
        return [Delivery(entry_id, _job(fields)) for entry_id, fields in entries if fields]

    async def is_done(self, job: Job) -> bool:
        return bool(await self._redis.exists(keys.outbox_done(job.id)))

    async def complete(self, delivery: Delivery) -> None:
        await self._finish(
            keys=[self._stream, keys.outbox_done(delivery.job.id)],
            args=[GROUP, delivery.entry_id, "done", DONE_TTL],
        )

    async def retry(self, delivery: Delivery, due: float) -> None:
        job = delivery.job
        again = Job(job.id, job.kind, job.data, job.attempts + 1)
        await self._finish(
            keys=[self._stream, keys.outbox_retry()],
            args=[GROUP, delivery.entry_id, "retry", due, _encode(again)],
        )

    async def bury(self, delivery: Delivery, reason: str) -> None:
        record = json.dumps({"job": json.loads(_encode(delivery.job)), "reason": reason})
        await self._finish(
            keys=[self._stream, keys.outbox_dead()],
            args=[GROUP, delivery.entry_id, "dead", DEAD_TTL, record, DEAD_KEEP],
        )

    async def promote_due(self, now: float, limit: int = 100) -> int:
        moved = await self._promote(keys=[keys.outbox_retry(), self._stream], args=[now, limit])
        return int(moved)

    async def stats(self) -> dict[str, int]:
        in_flight = 0
        try:
            pending = await self._redis.xpending(self._stream, GROUP)
            in_flight = int(pending["pending"])
        except redis.exceptions.ResponseError:
            pass  # no group yet: nothing in flight
        queued = int(await self._redis.xlen(self._stream))
        retrying = int(await self._redis.zcard(keys.outbox_retry()))
        dead = int(await self._redis.llen(keys.outbox_dead()))
        return {
            "depth": queued + retrying,
            "queued": queued - in_flight,
            "in_flight": in_flight,
            "retrying": retrying,
            "dead": dead,
        }
