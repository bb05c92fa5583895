"""Every Redis key the service writes has a TTL, unless it is a durable record."""

from __future__ import annotations

from service import keys
from service.store import keys as store_keys
from tests.conftest import Client, MakeUser, login

DURABLE = (
    store_keys.user(""),
    store_keys.user_by_email(""),
    store_keys.user_by_username(""),
    store_keys.user_ids(),
    store_keys.default_org(),
    store_keys.org(""),
    store_keys.org_by_name(""),
    store_keys.org_ids(),
    # The outbox's queues: a queued mail must not expire.
    store_keys.outbox_stream(),
    store_keys.outbox_retry(),
    # The audit trail is kept, bounded by trimming to AUDIT_MAX_ENTRIES rather than by time.
    store_keys.audit_stream(),
)


async def test_only_durable_keys_lack_a_ttl(client: Client, make_user: MakeUser) -> None:
    """After logins, failures, rate-limited calls and a reset request, only records have no TTL."""
    await make_user("tom@corp.example")
    token = await login(client, "tom@corp.example")
    await client.post("/api/v2/users/login", json={"email": "tom@corp.example", "password": "no"})
    await client.get("/api/v2/users/me", headers={"Coder-Session-Token": token})
    await login(client, "tom@corp.example")
    await client.post("/api/v2/users/otp/request", json={"email": "tom@corp.example"})
    worker = client.app[keys.OUTBOX_WORKER]
    while await worker.run_once():  # issue the code and deliver the mail, now
        pass
    redis = client.app[keys.REDIS]
    seen = 0
    async for key in redis.scan_iter("*"):
        seen += 1
        ttl = await redis.ttl(key)
        if key.startswith(tuple(k.rstrip(":") for k in DURABLE)):
            assert ttl == -1, key
        else:
            assert ttl > 0, key
    assert seen > 8


def test_keys_use_cluster_hash_tags() -> None:
    """Keys that change together share a hash tag."""
    assert store_keys.user("a").startswith("authsvc:{u}:")
    assert store_keys.user_by_email("A@B.co") == "authsvc:{u}:email:a@b.co"
    assert "{k1}" in store_keys.session("k1")
    tag = store_keys.rate_tag("ip", "1.2.3.4", "/x")
    assert store_keys.rate_counter(tag, "api").count("{") == 1
