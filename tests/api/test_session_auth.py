"""Session authentication (spec §1.4, §3): token sources, 401 details, expiry, revocation."""

from __future__ import annotations

import asyncio
import time

from service import keys
from service.app import create_app
from service.auth.admin import SYSTEM
from service.auth.sessions import REFRESH_INTERVAL
from service.clock import system_clock
from tests.conftest import AiohttpClient, Client, MakeClient, MakeUser, login, make_settings
from tests.support import STRONG, FakeClock

ME = "/api/v2/users/me"
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."


async def test_no_token(client: Client) -> None:
    """No token: 401 with the cookie detail and a WWW-Authenticate header."""
    resp = await client.get(ME)
    assert resp.status == 401
    assert await resp.json() == {
        "message": SIGNED_OUT,
        "detail": 'Cookie "coder_session_token" or query parameter must be provided.',
    }
    assert resp.headers["WWW-Authenticate"] == (
        'Bearer realm="coder", error="invalid_token", error_description="The access token has '
        'expired", resource_metadata="http://authsvc.test/.well-known/oauth-protected-resource"'
    )


async def test_format_errors(client: Client) -> None:
    """Vector 26 and friends: each malformed token gets Coder's exact detail."""
    cases = {
        "abc": "Invalid API key format: incorrect amount of API key parts, expected 2 got 1",
        "a-b-c": "Invalid API key format: incorrect amount of API key parts, expected 2 got 3",
        "short-0123456789012345678901": (
            "Invalid API key format: invalid API key ID length, expected 10 got 5"
        ),
        "0123456789-short": (
            "Invalid API key format: invalid API key secret length, expected 22 got 5"
        ),
    }
    for token, detail in cases.items():
        for headers in ({"Coder-Session-Token": token}, {"Authorization": f"Bearer {token}"}):
            resp = await client.get(ME, headers=headers)
            assert resp.status == 401
            assert await resp.json() == {"message": SIGNED_OUT, "detail": detail}
            assert "WWW-Authenticate" in resp.headers


async def test_unknown_id_and_wrong_secret(client: Client, make_user: MakeUser) -> None:
    """A well-formed unknown id is `invalid`; a known id with a wrong secret is `secret invalid`."""
    await make_user("pat@corp.example")
    token = await login(client, "pat@corp.example")
    key_id = token.split("-")[0]
    resp = await client.get(ME, headers={"Coder-Session-Token": "ZZZZZZZZZZ-" + "a" * 22})
    assert (await resp.json())["detail"] == "API key is invalid."
    resp = await client.get(ME, headers={"Coder-Session-Token": f"{key_id}-{'b' * 22}"})
    assert resp.status == 401
    assert (await resp.json())["detail"] == "API key secret is invalid."


async def test_all_five_token_sources(client: Client, make_user: MakeUser) -> None:
    """Cookie, query, Coder-Session-Token, Authorization: Bearer and access_token all work."""
    user = await make_user("quinn@corp.example")
    token = await login(client, "quinn@corp.example")
    client.session.cookie_jar.clear()
    attempts = [
        {"headers": {"Cookie": f"coder_session_token={token}"}},
        {"params": {"coder_session_token": token}},
        {"headers": {"Coder-Session-Token": token}},
        {"headers": {"Authorization": f"bEaReR   {token}  "}},
        {"params": {"access_token": f" {token} "}},
    ]
    for kwargs in attempts:
        resp = await client.get(ME, **kwargs)  # type: ignore[arg-type]
        assert resp.status == 200, kwargs
        assert (await resp.json())["id"] == user.id


async def test_first_non_empty_source_wins(client: Client, make_user: MakeUser) -> None:
    """The cookie is taken before a (valid) header; an empty cookie is skipped."""
    await make_user("ray@corp.example")
    token = await login(client, "ray@corp.example")
    client.session.cookie_jar.clear()
    resp = await client.get(
        ME, headers={"Cookie": "coder_session_token=bad", "Coder-Session-Token": token}
    )
    assert resp.status == 401
    resp = await client.get(
        ME, headers={"Cookie": "coder_session_token=", "Coder-Session-Token": token}
    )
    assert resp.status == 200


async def test_me_shape(client: Client, make_user: MakeUser) -> None:
    """GET /users/me answers Coder's user shape."""
    user = await make_user("sam@corp.example", roles=("auditor",))
    token = await login(client, "sam@corp.example")
    body = await (await client.get(ME, headers={"Coder-Session-Token": token})).json()
    assert body["id"] == user.id
    assert body["email"] == "sam@corp.example"
    assert body["username"] == "sam"
    assert body["status"] == "active"
    assert body["login_type"] == "password"
    assert body["roles"] == [{"name": "auditor", "display_name": "Auditor"}]
    assert body["organization_ids"] == list(user.orgs)
    assert body["created_at"].endswith("Z") and "T" in body["created_at"]


async def test_expired_session(client: Client, make_user: MakeUser, clock: FakeClock) -> None:
    """Past its expiry a session fails (expired detail while the row lingers, else invalid)."""
    await make_user("tia@corp.example")
    token = await login(client, "tia@corp.example")
    clock.advance(24 * 3600 + 1)
    resp = await client.get(ME, headers={"Coder-Session-Token": token})
    assert resp.status == 401
    detail = (await resp.json())["detail"]
    assert detail.startswith('API key expired at "') and detail.endswith(' +0000 UTC".')


async def test_session_ttl_equals_expiry(
    client: Client, make_user: MakeUser, clock: FakeClock
) -> None:
    """The session row's Redis expiry is its expires_at (24h by default) plus a day, so that
    an expired key is reported as expired."""
    await make_user("uma@corp.example")
    token = await login(client, "uma@corp.example")
    redis = client.app[keys.REDIS]
    from service.store import keys as store_keys

    expire_at = await redis.expiretime(store_keys.session(token.split("-")[0]))
    assert abs(expire_at - (clock.now + 24 * 3600 + 24 * 3600)) <= 1


async def test_expired_session_says_so_in_real_time(
    aiohttp_client: AiohttpClient, redis_url: str, make_user: MakeUser
) -> None:
    """With the real clock, a session past its expiry answers Coder's 'API key expired at'."""
    client = await aiohttp_client(
        create_app(
            make_settings(redis_url, session_duration="1", session_cache_ttl=0),
            clock=system_clock,
        )
    )
    await make_user("uma@corp.example")
    token = await login(client, "uma@corp.example")
    await asyncio.sleep(1.5)
    resp = await client.get(ME, headers={"Coder-Session-Token": token})
    assert resp.status == 401
    assert (await resp.json())["detail"].startswith('API key expired at "')


async def test_sliding_refresh_and_absolute_cap(make_client: MakeClient, clock: FakeClock) -> None:
    """Use after an hour slides expiry to now+lifetime, but never past the absolute cap."""
    client = await make_client(session_duration="2h", session_max_lifetime="3h")
    from service.auth.users import NewUser

    app = client.app
    await app[keys.DIRECTORY].create(
        NewUser("vic@corp.example", "vic", await app[keys.PASSWORDS].hash(STRONG))
    )
    token = await login(client, "vic@corp.example")
    key_id = token.split("-")[0]
    start = clock.now
    clock.advance(REFRESH_INTERVAL + 1)  # 1h in: expiry moves to now + 2h = start + 3h+1s -> capped
    assert (await client.get(ME, headers={"Coder-Session-Token": token})).status == 200
    session = await app[keys.SESSIONS]._store.get(key_id)
    assert session is not None
    assert session.expires_at == start + 3 * 3600
    clock.advance(2 * 3600)  # 3h+1s in: past the cap
    resp = await client.get(ME, headers={"Coder-Session-Token": token})
    assert resp.status == 401


async def test_refresh_updates_last_seen(
    client: Client, make_user: MakeUser, clock: FakeClock
) -> None:
    """The hourly refresh also writes the user's last_seen_at."""
    user = await make_user("wes@corp.example")
    token = await login(client, "wes@corp.example")
    clock.advance(2 * 3600)
    assert (await client.get(ME, headers={"Coder-Session-Token": token})).status == 200
    stored = await client.app[keys.USERS].get(user.id)
    assert stored is not None and stored.last_seen_at == clock.now


async def test_suspended_user_session_refused(client: Client, make_user: MakeUser) -> None:
    """A session of a user suspended since login gets the not-active 401, no detail."""
    user = await make_user("xia@corp.example")
    token = await login(client, "xia@corp.example")
    await client.app[keys.ADMIN].set_status(SYSTEM, user, "suspended")
    resp = await client.get(ME, headers={"Coder-Session-Token": token})
    assert resp.status == 401
    assert await resp.json() == {
        "message": 'User is not active (status = "suspended"). Contact an admin to reactivate '
        "your account."
    }
    assert 'error_description="The access token is invalid"' in resp.headers["WWW-Authenticate"]


async def test_dormant_user_session_reactivates(client: Client, make_user: MakeUser) -> None:
    """A dormant user's session works and silently makes the user active."""
    user = await make_user("yan@corp.example")
    token = await login(client, "yan@corp.example")
    await client.app[keys.ADMIN].set_status(SYSTEM, user, "dormant")
    resp = await client.get(ME, headers={"Coder-Session-Token": token})
    assert resp.status == 200
    assert (await resp.json())["status"] == "active"


async def test_logout_deletes_session_and_clears_cookie(
    client: Client, make_user: MakeUser
) -> None:
    """Logout answers 200, expires the cookie, and the token stops working."""
    await make_user("zed@corp.example")
    token = await login(client, "zed@corp.example")
    resp = await client.post("/api/v2/users/logout", headers={"Coder-Session-Token": token})
    assert resp.status == 200
    assert await resp.json() == {"message": "Logged out!"}
    assert resp.headers["Set-Cookie"] == "coder_session_token=; Path=/; Max-Age=0"
    resp = await client.get(ME, headers={"Coder-Session-Token": token})
    assert (await resp.json())["detail"] == "API key is invalid."


async def test_session_works_on_another_replica(make_client: MakeClient) -> None:
    """A session made through one app instance is accepted by another on the same Redis."""
    a = await make_client()
    b = await make_client()
    from service.auth.users import NewUser

    await a.app[keys.DIRECTORY].create(
        NewUser("amy@corp.example", "amy", await a.app[keys.PASSWORDS].hash(STRONG))
    )
    token = await login(a, "amy@corp.example")
    assert (await b.get(ME, headers={"Coder-Session-Token": token})).status == 200


async def test_revoke_all_kills_every_session(client: Client, make_user: MakeUser) -> None:
    """Revoking all of a user's sessions invalidates each token."""
    user = await make_user("ben@corp.example")
    tokens = [await login(client, "ben@corp.example") for _ in range(3)]
    await client.app[keys.SESSIONS].revoke_all(user.id)
    for token in tokens:
        resp = await client.get(ME, headers={"Coder-Session-Token": token})
        assert (await resp.json())["detail"] == "API key is invalid."


async def test_revoked_session_stays_refused_and_new_one_works(
    make_client: MakeClient, make_user: MakeUser, redis_url: str
) -> None:
    """Revoking all sessions (no per-user index: the user's epoch rises) refuses an old
    session on every replica, also by its id on the keys route, and deletes its record at the
    next use; a session issued at the same instant after the revocation works."""
    import redis.asyncio as aioredis

    from service.store import keys as store_keys

    a = await make_client()
    b = await make_client()
    user = await make_user("dan@corp.example")
    old = await login(a, "dan@corp.example")
    assert (await b.get(ME, headers={"Coder-Session-Token": old})).status == 200
    await a.app[keys.SESSIONS].revoke_all(user.id)
    new = await login(a, "dan@corp.example")  # the fake clock has not moved
    key_id = old.split("-")[0]
    resp = await a.get(f"/api/v2/users/me/keys/{key_id}", headers={"Coder-Session-Token": new})
    assert resp.status == 404
    probe = aioredis.from_url(redis_url, decode_responses=True)
    try:
        assert await probe.exists(store_keys.session(key_id)) == 1  # still there, void
        resp = await a.get(ME, headers={"Coder-Session-Token": old})
        assert (await resp.json())["detail"] == "API key is invalid."
        assert await probe.exists(store_keys.session(key_id)) == 0  # deleted at that use
        # The other replica had it cached: the change feed evicts it.
        deadline = time.monotonic() + 5
        while (await b.get(ME, headers={"Coder-Session-Token": old})).status != 401:
            assert time.monotonic() < deadline, "the other replica still accepts the session"
            await asyncio.sleep(0.05)
        for replica in (a, b):
            resp = await replica.get(ME, headers={"Coder-Session-Token": new})
            assert resp.status == 200
    finally:
        await probe.aclose()


async def test_token_presented_before_login_is_never_promoted(
    client: Client, make_user: MakeUser
) -> None:
    """Session fixation: a token sent with the login request is ignored; a new one is issued."""
    await make_user("cat@corp.example")
    planted = "AAAAAAAAAA-" + "B" * 22
    resp = await client.post(
        "/api/v2/users/login",
        json={"email": "cat@corp.example", "password": STRONG},
        headers={"Coder-Session-Token": planted},
    )
    token = (await resp.json())["session_token"]
    assert token != planted
    client.session.cookie_jar.clear()
    resp = await client.get(ME, headers={"Coder-Session-Token": planted})
    assert resp.status == 401


async def test_new_token_of_a_known_user_costs_one_round_trip(
    client: Client, make_user: MakeUser, redis_url: str
) -> None:
    """A session not yet cached whose user is (another of its sessions was just used) costs
    one Redis command, the session's GET, not a second one for the user. (The user's first
    use writes last_seen_at, which evicts it: the third session is the one measured.)"""
    import redis.asyncio as aioredis

    await make_user("pat@corp.example")
    first = await login(client, "pat@corp.example")
    second = await login(client, "pat@corp.example")
    third = await login(client, "pat@corp.example")
    probe = aioredis.from_url(redis_url, decode_responses=True)
    try:

        async def counts() -> tuple[int, int]:
            stats = await probe.info("commandstats")
            return (
                int(stats.get("cmdstat_get", {}).get("calls", 0)),
                int(stats.get("cmdstat_hgetall", {}).get("calls", 0)),
            )

        for token in (first, second):
            resp = await client.get("/api/v2/users/me", headers={"Coder-Session-Token": token})
            assert resp.status == 200
        before = await counts()
        resp = await client.get("/api/v2/users/me", headers={"Coder-Session-Token": third})
        assert resp.status == 200
        after = await counts()
        assert (after[0] - before[0], after[1] - before[1]) == (1, 0)
    finally:
        await probe.aclose()
