"""Fixtures: a real redis-server, the real app factory, a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient

from service import keys
from service.app import create_app
from service.auth.users import NewUser, User
from service.settings import Settings
from tests.support import STRONG, FakeClock, RecordingSmtp, redis_for_tests

ROOT = Path(__file__).resolve().parent.parent
AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis for the whole run (tests FLUSHDB it between tests)."""
    with redis_for_tests() as url:
        yield url


@pytest.fixture(autouse=True)
def _clean_redis(request: pytest.FixtureRequest) -> None:
    """Every test that uses Redis starts from an empty database."""
    if "redis_url" in request.fixturenames:
        url = request.getfixturevalue("redis_url")
        with redis.Redis.from_url(url) as r:
            r.flushdb()


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    """Settings for tests: real Redis, a cheap argon2 profile (tests only), repo config."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "secret_key": "test-secret-key-0123456789",
        "config_dir": ROOT / "config",
        "argon2_memory_cost": 64,
        "argon2_time_cost": 1,
        "hash_workers": 2,
        "public_url": "http://authsvc.test",
        # Tests without SMTP read mail from the log on purpose.
        "dev_mail_to_log": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def smtp() -> Iterator[RecordingSmtp]:
    """A recording SMTP server on 127.0.0.1 for the test."""
    server = RecordingSmtp().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock; tests advance it."""
    return FakeClock()


class MakeClient(Protocol):
    async def __call__(self, **overrides: Any) -> Client: ...


@pytest.fixture
def make_client(aiohttp_client: AiohttpClient, redis_url: str, clock: FakeClock) -> MakeClient:
    """Build a test client on the real factory with settings overrides."""

    async def make(**overrides: Any) -> Client:
        return await aiohttp_client(create_app(make_settings(redis_url, **overrides), clock=clock))

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    """A client on default test settings."""
    return await make_client()


class MakeUser(Protocol):
    async def __call__(
        self,
        email: str,
        password: str | None = STRONG,
        *,
        username: str | None = None,
        **kwargs: Any,
    ) -> User: ...


@pytest.fixture
def make_user(client: Client) -> MakeUser:
    """Create a user through the app's own directory (as the CLI does)."""

    async def make(
        email: str, password: str | None = STRONG, *, username: str | None = None, **kwargs: Any
    ) -> User:
        app = client.app
        hashed = await app[keys.PASSWORDS].hash(password) if password else ""
        user = await app[keys.DIRECTORY].create(
            NewUser(
                email=email,
                username=username or email.split("@")[0].replace(".", "-"),
                hashed_password=hashed,
                **kwargs,
            )
        )
        assert user is not None
        return user

    return make


async def login(client: Client, email: str, password: str = STRONG) -> str:
    """Log in and return the session token (asserts success)."""
    resp = await client.post("/api/v2/users/login", json={"email": email, "password": password})
    assert resp.status == 201, await resp.text()
    token: str = (await resp.json())["session_token"]
    # Tests pick their token source explicitly; the cookie would otherwise win (it is first).
    client.session.cookie_jar.clear()
    return token


@pytest.fixture
def login_as(client: Client) -> Callable[[str, str], Awaitable[str]]:
    """Log in as a user; returns the token."""

    async def do(email: str, password: str = STRONG) -> str:
        return await login(client, email, password)

    return do


AsyncIter = AsyncIterator
