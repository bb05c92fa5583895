"""Bad input and outages: each gets the right status and Coder's envelope, never a traceback."""

from __future__ import annotations

import asyncio
import time

from service.app import create_app
from tests.conftest import AiohttpClient, Client, MakeUser, login, make_settings
from tests.support import FakeClock, start_redis


async def test_ten_megabyte_body_is_413(client: Client) -> None:
    """A 10 MB body answers 413 with the JSON envelope."""
    resp = await client.post("/api/v2/users/login", data=b"{" + b" " * (10 * 1024 * 1024) + b"}")
    assert resp.status == 413
    body = await resp.json()
    assert body["message"] == "Request body must be valid JSON."
    assert "too large" in body["detail"]


async def test_trailing_garbage_is_rejected(client: Client) -> None:
    """Deviation: data after the JSON value is an error (Go would ignore it)."""
    resp = await client.post("/api/v2/users/login", data=b'{"email":"a@b.co","password":"x"}junk')
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Request body must be valid JSON.",
        "detail": "invalid character 'j' after top-level value",
    }


async def test_keys_are_case_sensitive(client: Client) -> None:
    """Deviation: `EMAIL` does not fill `email` (Go matches case-insensitively)."""
    resp = await client.post("/api/v2/users/login", json={"EMAIL": "a@b.co", "password": "x"})
    assert resp.status == 400
    assert [v["field"] for v in (await resp.json())["validations"]] == ["email"]


async def test_top_level_array_and_null(client: Client) -> None:
    """An array is a Go unmarshal error; a top-level null decodes to an empty struct."""
    resp = await client.post("/api/v2/users/login", data=b"[]")
    assert await resp.json() == {
        "message": "Request body must be valid JSON.",
        "detail": "json: cannot unmarshal array into Go value of type "
        "codersdk.LoginWithPasswordRequest",
    }
    resp = await client.post("/api/v2/users/login", data=b"null")
    assert resp.status == 400
    assert (await resp.json())["message"] == "Validation failed."


async def test_unknown_route_and_method(client: Client) -> None:
    """Unknown API routes answer Coder's 404; a wrong method answers a 405 envelope."""
    resp = await client.get("/api/v2/nope")
    assert resp.status == 404
    assert await resp.json() == {"message": "Route not found."}
    resp = await client.get("/api/v2/users/login")
    assert resp.status == 405
    assert (await resp.json())["message"] == "Method not allowed."


async def test_request_id_is_echoed(client: Client) -> None:
    """A caller's X-Request-Id is echoed; otherwise one is generated."""
    resp = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    resp = await client.get("/healthz")
    assert len(resp.headers["X-Request-Id"]) == 32


async def test_redis_going_away_answers_503_then_recovers(aiohttp_client: AiohttpClient) -> None:
    """Redis stopped mid-run: 503 envelope within the timeout; back again: service recovers."""
    server = start_redis()
    try:
        settings = make_settings(server.url, redis_timeout=1.0)
        client: Client = await aiohttp_client(create_app(settings, clock=FakeClock()))
        resp = await client.post("/api/v2/users/login", json={"email": "a@b.co", "password": "x"})
        assert resp.status == 401
        server.stop()
        started = time.monotonic()
        resp = await client.post("/api/v2/users/login", json={"email": "a@b.co", "password": "x"})
        assert time.monotonic() - started < 3
        assert resp.status == 503
        body = await resp.json()
        assert body["message"] == "The service is temporarily unavailable."
        assert "Traceback" not in await resp.text()
        resp = await client.get(
            "/api/v2/users/me", headers={"Coder-Session-Token": "a" * 10 + "-" + "b" * 22}
        )
        assert resp.status == 503
        server = start_redis(server.port)
        for _ in range(20):
            resp = await client.post(
                "/api/v2/users/login", json={"email": "a@b.co", "password": "x"}
            )
            if resp.status == 401:
                break
            await asyncio.sleep(0.1)
        assert resp.status == 401
    finally:
        server.stop()


async def test_redis_hanging_answers_503_within_timeout(aiohttp_client: AiohttpClient) -> None:
    """A Redis that accepts but never answers (paused): 503 within the configured timeout."""
    server = start_redis()
    try:
        client: Client = await aiohttp_client(
            create_app(make_settings(server.url, redis_timeout=0.5), clock=FakeClock())
        )
        assert (await client.get("/api/v2/users/first")).status == 404
        server.process.send_signal(__import__("signal").SIGSTOP)
        try:
            started = time.monotonic()
            resp = await client.get("/api/v2/users/first")
            elapsed = time.monotonic() - started
        finally:
            server.process.send_signal(__import__("signal").SIGCONT)
        assert resp.status == 503
        assert elapsed < 2.5
    finally:
        server.stop()


async def test_unknown_user_session_and_login_are_not_500(
    client: Client, make_user: MakeUser
) -> None:
    """Unknown users never produce a 5xx: login 401, a session of a vanished user 401."""
    user = await make_user("gone@corp.example")
    token = await login(client, "gone@corp.example")
    from service import keys
    from service.store import keys as store_keys

    await client.app[keys.REDIS].delete(store_keys.user(user.id))
    resp = await client.get("/api/v2/users/me", headers={"Coder-Session-Token": token})
    assert resp.status == 401
    assert (await resp.json())["detail"] == "API key is invalid."
