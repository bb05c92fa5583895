"""No input stalls a replica: the cost of every anonymous endpoint grows at most linearly.

The worst bodies we could build for each piece of work an anonymous caller can trigger: the
email pattern (a quote and spaces: exponential on a backtracking engine), the password
strength estimate (runs of sequences and repeats: quadratic as the Go code is written), the
Go-compatible JSON error scanner (long valid prefixes before the error), huge numbers and deep
nesting. Each is measured at two sizes, as CPU time of this process (best of three runs, so
that a scheduler hiccup does not count), and must grow no faster than the input, with room
for noise; every public endpoint must answer its worst body at the size limit in well under
50 ms of CPU.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from service import gojson, keys
from service.api.binding import is_email
from service.auth.policy import check_password
from tests.conftest import Client, MakeClient, MakeUser
from tests.security.hostile import (
    ANONYMOUS,
    email_worst,
    hostile_bodies,
    json_worst,
    password_worst,
)
from tests.support import ServeProcess

SMALL, LARGE = 16 * 1024, 64 * 1024
# Linear growth is LARGE / SMALL = 4x; quadratic would be 16x. Allow 2x for noise and
# fixed costs that do not shrink at the small size.
GROWTH_LIMIT = 2 * LARGE / SMALL


def _cpu(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return max(best, 1e-4)  # below the clock's resolution, both sizes are "free"


@pytest.mark.parametrize(
    ("name", "work"),
    [
        ("email pattern", lambda n: is_email(email_worst(n))),
        ("email pattern, long local part", lambda n: is_email("a" * n + "@x")),
        ("password strength", lambda n: check_password(password_worst(n))),
        ("password strength, one repeated character", lambda n: check_password("a" * n)),
        (
            "JSON error scanner",
            lambda n: [_decode_or_error(b) for b in json_worst(n)],
        ),
    ],
)
def test_cost_grows_at_most_linearly(name: str, work: Callable[[int], object]) -> None:
    """Each input-driven step costs at most ~linear CPU in the input size."""
    small = _cpu(lambda: work(SMALL))
    large = _cpu(lambda: work(LARGE))
    assert large <= GROWTH_LIMIT * small + 0.005, f"{name}: {small:.4f}s -> {large:.4f}s"


def _decode_or_error(body: bytes) -> str:
    try:
        gojson.decode(body)
    except gojson.GoSyntaxError as exc:
        return str(exc)
    return "ok"


def test_huge_numbers_are_numbers() -> None:
    """A number of any length decodes (Go's float64 semantics), never Python's digit limit."""
    assert gojson.decode(b'{"email":' + b"9" * 5000 + b"}") == {"email": float("inf")}
    assert gojson.decode(b"[" + b"1" * 10000 + b"]") == [float("inf")]


async def _request_cpu(client: Client, path: str, body: bytes) -> tuple[float, int]:
    best, status = float("inf"), 0
    for _ in range(3):
        started = time.process_time()
        resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
        await resp.read()
        best = min(best, time.process_time() - started)
        status = resp.status
    return best, status


async def test_every_anonymous_endpoint_is_cheap_and_linear(make_client: MakeClient) -> None:
    """Worst bodies at 1 KiB and at the limit: 4xx, linear growth, well under 50 ms of CPU."""
    client = await make_client(
        validate_password_anonymous=True, login_rate_limit=-1, api_rate_limit=-1
    )
    limit = client.app[keys.SETTINGS].public_max_body_size
    for path, template in ANONYMOUS:
        small_bodies = hostile_bodies(template, 1024)
        large_bodies = hostile_bodies(template, limit)
        for (_, small_body), (_, large_body) in zip(small_bodies, large_bodies, strict=True):
            small, small_status = await _request_cpu(client, path, small_body)
            large, large_status = await _request_cpu(client, path, large_body)
            what = f"{path} {large_body[:30]!r}"
            assert small_status < 500 and large_status < 500, what
            assert large < 0.025, f"{what}: {large * 1000:.1f} ms of CPU"
            assert large <= 2 * (limit / 1024) * small + 0.003, f"{what}: {small} -> {large}"


async def test_public_bodies_are_capped_before_parsing(client: Client) -> None:
    """An anonymous body over PUBLIC_MAX_BODY_SIZE is 413 without being read to the end."""
    body = b'{"email":"a@b.co","password":"' + b"x" * 5000 + b'"}'
    resp = await client.post("/api/v2/users/login", data=body)
    assert resp.status == 413
    assert (await resp.json())["detail"] == "http: request body too large (limit 4096 bytes)"


async def test_slow_request_head_is_dropped(redis_url: str) -> None:
    """A client that sends half a request head and stalls is disconnected in time."""
    server = ServeProcess(
        {
            "AUTHSVC_REDIS_URL": redis_url,
            "AUTHSVC_SECRET_KEY": "linear-cost-test-secret-4f9a",
            "AUTHSVC_DEV_MAIL_TO_LOG": "true",
            "AUTHSVC_REQUEST_HEAD_TIMEOUT": "1",
            "AUTHSVC_REQUEST_BODY_TIMEOUT": "1",
        }
    )
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(b"POST /api/v2/users/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            started = time.monotonic()
            closed = await asyncio.to_thread(conn.recv, 1024)
            waited = time.monotonic() - started
        assert closed == b""  # the server closed the connection
        assert 0.5 < waited < 5
        # ...and a client that sends the head but trickles its body gets 408.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(
                b"POST /api/v2/users/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            answer = await asyncio.to_thread(conn.recv, 4096)
        assert answer.startswith(b"HTTP/1.1 408")
    finally:
        server.stop()


async def test_large_malformed_bodies_with_a_session(
    client: Client, make_user: MakeUser, login_as: Any
) -> None:
    """Up to MAX_BODY_SIZE with a session: a huge number and the scanner's worst shape answer
    Go's 400 (the scan runs off the event loop), never 500."""
    await make_user("pat@corp.example")
    headers = {"Coder-Session-Token": await login_as("pat@corp.example")}
    resp = await client.post(
        "/api/v2/authcheck", data=b'{"checks":' + b"9" * 5000 + b"}", headers=headers
    )
    assert resp.status == 400
    assert (await resp.json())["detail"] == (
        "json: cannot unmarshal number into Go struct field AuthorizationRequest.checks of type "
        "map[string]codersdk.AuthorizationCheck"
    )
    deep = b'{"checks":[' + b"[[[[[0]]]]]," * 5000 + b"x"
    assert len(deep) < 64 * 1024
    resp = await client.post("/api/v2/authcheck", data=deep, headers=headers)
    assert resp.status == 400
    assert (await resp.json())["detail"] == "invalid character 'x' looking for beginning of value"
