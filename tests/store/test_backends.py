"""The store suite on standalone Redis, a real 3-master Redis Cluster and a real Sentinel set.

Every repository is exercised through the URL forms operators use (redis://,
redis+cluster://, redis+sentinel://); a Sentinel failover happens in the middle of a run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
import redis.exceptions

from service.auth.sessions import Session, hash_secret
from service.auth.users import NewUser, UserDirectory
from service.authz.objects import Group, ObjectRecord
from service.store.objects import RedisObjectStore
from service.store.onetime import RedisOneTimeStore
from service.store.otp import RedisOtpStore
from service.store.outbox import RedisOutbox
from service.store.ratelimit import RedisRateLimiter
from service.store.redis import Redis, connect
from service.store.sessions import RedisSessionStore
from service.store.users import RedisUserStore
from tests.support import (
    RedisGroup,
    sentinel_failover,
    sentinel_master_port,
    start_cluster,
    start_sentinel_set,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisGroup]:
    group = start_cluster()
    yield group
    group.stop()


@pytest.fixture(scope="module")
def sentinel() -> Iterator[RedisGroup]:
    group = start_sentinel_set()
    yield group
    group.stop()


@pytest.fixture(params=["standalone", "cluster", "sentinel"])
async def client(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Redis]:
    """A store client for each topology."""
    url = redis_url if request.param == "standalone" else request.getfixturevalue(request.param).url
    r = connect(url, timeout=2)
    try:
        yield r
    finally:
        await r.aclose()


async def test_store_suite(client: Redis) -> None:
    """Users, sessions, rate limits, passcodes, one-time states and the outbox all work."""
    now = time.time()
    users = RedisUserStore(client)
    directory = UserDirectory(users, time.time)
    tag = str(time.monotonic_ns())
    user = await directory.create(NewUser(f"s{tag}@corp.example", f"s{tag}", "hash"))
    assert user is not None
    assert (await users.by_email(f"S{tag}@corp.example")) == user
    assert await users.set_login(user.id, "oidc", "oidc", f"sub-{tag}", now)
    assert (await users.by_link("oidc", f"sub-{tag}")).id == user.id  # type: ignore[union-attr]
    await users.update(user.id, status="dormant")
    assert (await users.get(user.id)).status == "dormant"  # type: ignore[union-attr]

    sessions = RedisSessionStore(client, 86400)
    now = int(now * 1000) / 1000  # sessions are stored with millisecond times
    session = Session(
        f"k{tag[-9:]}", user.id, hash_secret("s"), now, now + 60, now, 60, "password", "1.2.3.4"
    )
    await sessions.put(session)
    assert await sessions.get(session.id) == session
    # Concurrent lookups share one pipelined round trip (across slots on the Cluster).
    others = [replace(session, id=f"{i}{tag[-9:]}") for i in range(8)]
    for other in others:
        await sessions.put(other)
    found = await asyncio.gather(*[sessions.get(o.id) for o in [*others, session]])
    assert found == [*others, session]
    pair = await asyncio.gather(sessions.get("nosuchkey0"), sessions.get(session.id))
    assert list(pair) == [None, session]
    await sessions.extend(session, now + 120, now + 1)
    assert (await sessions.get(session.id)).expires_at == now + 120  # type: ignore[union-attr]
    # Revoking all of a user's sessions raises the user's epoch above the session's.
    await sessions.delete_all(user.id)
    revoked = await users.get(user.id)
    assert revoked is not None and revoked.session_epoch == session.epoch + 1

    limiter = RedisRateLimiter(client, time.time)
    decisions = [await limiter.hit(f"ip|{tag}", [("a", 2), ("b", 5)], 60) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]

    otps = RedisOtpStore(client, time.time)
    await otps.put(user.id, "mac", 60, 3)
    await otps.put(user.id, "mac2", 60, 3)
    assert not await otps.check(user.id, "wrong")
    assert await otps.check(user.id, "mac")
    assert await otps.check(user.id, "mac2")
    assert await otps.consume(user.id, "mac")
    assert not await otps.consume(user.id, "mac")
    assert not await otps.check(user.id, "mac2")  # a successful reset voids every code

    states = RedisOneTimeStore(client)
    await states.put("convert", f"st{tag}", {"user_id": user.id}, 60)
    assert await states.take("convert", f"st{tag}") == {"user_id": user.id}
    assert await states.take("convert", f"st{tag}") is None

    outbox = RedisOutbox(client)
    await outbox.ensure_group()
    await outbox.enqueue("mail", {"n": tag})
    [first] = [d for d in await outbox.read("w1", 100, 200) if d.job.data == {"n": tag}]
    await outbox.retry(first, due=0)
    assert await outbox.promote_due(time.time()) >= 1
    [again] = [d for d in await outbox.read("w1", 100, 200) if d.job.data == {"n": tag}]
    assert again.job.attempts == 1
    await outbox.complete(again)
    assert await outbox.is_done(again.job)


async def test_tokens_objects_and_groups_suite(client: Redis) -> None:
    """API tokens (name index, listing, deletion), registered objects, groups and the one
    round-trip fetch work on every backend (the Cluster keeps each user's keys, and the
    directory's, in one slot)."""
    now = int(time.time() * 1000) / 1000
    tag = str(time.monotonic_ns())
    users = RedisUserStore(client)
    user = await UserDirectory(users, time.time).create(
        NewUser(f"t{tag}@corp.example", f"t{tag}", "hash")
    )
    assert user is not None
    sessions = RedisSessionStore(client, 86400)
    token = Session(
        f"t{tag[-9:]}", user.id, hash_secret("s"), now, now + 600, 0.0, 600, "token", "",
        scopes=("workspace:read",), allow_list=("workspace:*",), token_name="ci|deploy",
    )  # fmt: skip
    assert await sessions.put_token(token)
    assert not await sessions.put_token(Session(**{**token.__dict__, "id": f"u{tag[-9:]}"}))
    assert await sessions.get(token.id) == token
    assert await sessions.tokens_of(user.id) == [token]
    assert await sessions.token_named(user.id, "ci|deploy") == token
    assert await sessions.extend(token, token.expires_at, now + 1)  # the first use
    assert not await sessions.extend(token, token.expires_at, now + 2)
    assert await sessions.delete(token)
    assert await sessions.tokens_of(user.id) == []
    # Revoking all of a user's sessions deletes the tokens at once, names and all.
    assert await sessions.put_token(token)
    await sessions.delete_all(user.id)
    assert await sessions.get(token.id) is None
    assert await sessions.tokens_of(user.id) == []

    objects = RedisObjectStore(client)
    org = await users.default_org()
    group = Group(str(uuid.uuid4()), f"g{tag}", "", org, "", 0, "user")
    assert await objects.create_group(group)
    assert not await objects.create_group(replace(group, id=str(uuid.uuid4())))
    assert await objects.update_group(group, group.name, [user.id], []) == 1
    template = str(uuid.uuid4())
    record = ObjectRecord(
        "template", template, "", org, {"users": {}, "groups": {group.id: "use"}}, now, now
    )
    await objects.put_object(record, None)
    assert await objects.get_object("template", template) == record
    found, groups = await objects.fetch(
        [("template", template), ("user", user.id), ("group", group.id), ("group", org)],
        user.id,
    )
    assert groups == {group.id}
    resource = found[("template", template)]
    assert resource is not None and resource.acl_groups == {group.id: frozenset({"read", "use"})}
    assert found[("user", user.id)] is not None and found[("group", org)] is not None
    await objects.forget_user(user.id)
    assert await objects.groups_of(user.id) == frozenset()
    await objects.forget_org(org)
    assert await objects.get_object("template", template) is None
    assert await objects.get_group(group.id) is None


async def test_sentinel_failover_during_a_run(sentinel: RedisGroup) -> None:
    """Writes continue on the new master after a failover (a few fail while it happens)."""
    r = connect(sentinel.url, timeout=1)
    try:
        users = RedisUserStore(r)
        directory = UserDirectory(users, time.time)
        before = sentinel_master_port(sentinel)
        failures = 0
        after_change: list[str] = []
        deadline = time.monotonic() + 40
        failed_over = False
        i = 0
        while time.monotonic() < deadline and len(after_change) < 20:
            i += 1
            if i == 20:
                sentinel_failover(sentinel)
                failed_over = True
            try:
                user = await directory.create(
                    NewUser(
                        f"f{i}-{time.monotonic_ns()}@corp.example", f"f{i}x{time.monotonic_ns()}"
                    )
                )
                assert user is not None
                if failed_over and sentinel_master_port(sentinel) != before:
                    after_change.append(user.id)
            except (
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                redis.exceptions.ReadOnlyError,
                redis.exceptions.ResponseError,
            ):
                failures += 1
            await asyncio.sleep(0.05)
        assert sentinel_master_port(sentinel) != before
        assert len(after_change) == 20
        # What was acknowledged after the failover is readable from the new master.
        for user_id in after_change:
            assert await users.get(user_id) is not None
    finally:
        await r.aclose()
