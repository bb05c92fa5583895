"""Operations: readiness, Prometheus metrics, request ids on every log line, no secrets in logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from service.app import create_app
from service.logs import JsonFormatter
from tests.conftest import AiohttpClient, Client, MakeClient, MakeUser, login, make_settings
from tests.support import STRONG, FakeClock, RecordingSmtp, start_redis, wait_until


async def test_readyz(client: Client) -> None:
    """Ready when Redis answers and a policy is loaded; reports the policy version."""
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ready" and len(body["policy_version"]) == 12


async def test_readyz_without_redis(aiohttp_client: AiohttpClient) -> None:
    """With Redis gone /readyz answers 503 (and /healthz still 200)."""
    server = start_redis()
    client = await aiohttp_client(
        create_app(make_settings(server.url, redis_timeout=0.5), clock=FakeClock())
    )
    server.stop()
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["message"] == "Not ready."
    assert (await client.get("/healthz")).status == 200


async def test_metrics(client: Client, make_user: MakeUser) -> None:
    """Requests, login outcomes, authz decisions, policy version and outbox depth are exported."""
    await make_user("m@corp.example")
    token = await login(client, "m@corp.example")
    await client.post("/api/v2/users/login", json={"email": "m@corp.example", "password": "no"})
    await client.post(
        "/api/v2/authcheck",
        json={
            "checks": {
                "a": {"action": "read", "object": {"resource_type": "user", "owner_id": "me"}},
                "b": {"action": "read", "object": {"resource_type": "license"}},
            }
        },
        headers={"Coder-Session-Token": token},
    )
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    for line in (
        'authsvc_http_requests_total{method="POST",route="/api/v2/users/login",status="201"} 1.0',
        'authsvc_logins_total{outcome="success"} 1.0',
        'authsvc_logins_total{outcome="rejected"} 1.0',
        'authsvc_authz_decisions_total{decision="allow"} 1.0',
        'authsvc_authz_decisions_total{decision="deny"} 1.0',
        "authsvc_outbox_depth 0.0",
    ):
        assert line in text, line
    assert "authsvc_policy_info{version=" in text
    assert "authsvc_http_request_duration_seconds_bucket" in text


async def test_rate_limit_hits_are_counted(make_client: MakeClient) -> None:
    """A 429 shows up in authsvc_rate_limited_total."""
    client = await make_client(login_rate_limit=1, login_failure_limit=-1)
    for _ in range(2):
        await client.post("/api/v2/users/login", json={"email": "x@corp.example", "password": "p"})
    text = await (await client.get("/metrics")).text()
    assert 'authsvc_rate_limited_total{route="/api/v2/users/login"} 1.0' in text


def _json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records]


async def test_every_line_of_a_request_has_its_id(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, make_user: MakeUser
) -> None:
    """Log lines written while handling a request carry its id, and X-Request-Id echoes it."""
    client = await make_client(login_failure_limit=2)
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            resp = await client.post(
                "/api/v2/users/login",
                json={"email": "nobody@corp.example", "password": "p"},
                headers={"X-Request-Id": "req-42"},
            )
    assert resp.headers["X-Request-Id"] == "req-42"
    lines = [
        line for line in _json_lines(caplog) if line["logger"].startswith(("authsvc", "service"))
    ]
    assert lines
    assert all(line.get("request_id") == "req-42" for line in lines), lines


async def test_secrets_never_logged(
    make_client: MakeClient, smtp: RecordingSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    """Passwords, session tokens and passcodes never reach the log (SMTP configured)."""
    client = await make_client(smtp_host="127.0.0.1", smtp_port=smtp.port, log_level="DEBUG")
    from service import keys
    from service.auth.users import NewUser

    app = client.app
    await app[keys.DIRECTORY].create(
        NewUser("sec@corp.example", "sec", await app[keys.PASSWORDS].hash(STRONG))
    )
    with caplog.at_level(logging.DEBUG):
        token = await login(client, "sec@corp.example")
        await client.get("/api/v2/users/me", params={"coder_session_token": token})
        await client.post("/api/v2/users/otp/request", json={"email": "sec@corp.example"})
        await wait_until(lambda: len(smtp.messages) == 1)
        body = smtp.messages[0].get_body(preferencelist=("plain",)).get_content()
        code = body.split("one-time passcode: ")[1].split()[0]
        new = "A-Whole-New-Secret-7"
        resp = await client.post(
            "/api/v2/users/otp/change-password",
            json={"email": "sec@corp.example", "one_time_passcode": code, "password": new},
        )
        assert resp.status == 204
    # Everything the service process logs: its own loggers and the libraries it runs. Only
    # aiosmtpd's `mail.log` is left out: that is this test's recording SMTP server.
    lines = [line for line in _json_lines(caplog) if line["logger"] != "mail.log"]
    assert any(
        line["logger"].startswith("aiosmtplib") or "service" in line["logger"] for line in lines
    )
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in (STRONG, new, token, token.split("-")[1], code):
        assert secret not in text


async def test_audit_trail(make_client: MakeClient, smtp: RecordingSmtp, redis_url: str) -> None:
    """Logins, failures, logout, code requests, resets and rate-limit hits are appended to the
    audit stream with time, user, address and outcome - never a password or a code - and
    `audit tail` prints them."""
    from service import keys
    from service.auth.users import NewUser
    from tests.test_cli import run

    client = await make_client(smtp_host="127.0.0.1", smtp_port=smtp.port, login_rate_limit=4)
    app = client.app
    user = await app[keys.DIRECTORY].create(
        NewUser("aud@corp.example", "aud", await app[keys.PASSWORDS].hash(STRONG))
    )
    assert user is not None
    token = await login(client, "aud@corp.example")
    await client.post("/api/v2/users/login", json={"email": "aud@corp.example", "password": "nope"})
    await client.post("/api/v2/users/logout", headers={"Coder-Session-Token": token})
    await client.post("/api/v2/users/otp/request", json={"email": "aud@corp.example"})
    for _ in range(3):
        await client.post("/api/v2/users/login", json={"email": "x@corp.example", "password": "p"})
    events = await app[keys.AUDIT].tail(50)
    kinds = [(e["event"], e["outcome"]) for e in events]
    assert kinds[:5] == [
        ("login", "success"),
        ("login", "failure"),
        ("logout", "success"),
        ("otp_request", "success"),
        ("login", "failure"),
    ]
    assert ("rate_limited", "failure") in kinds
    first = events[0]
    assert first["user_id"] == user.id and first["email"] == "aud@corp.example"
    assert first["ip"] == "127.0.0.1" and float(first["time"]) > 0
    assert events[2]["user_id"] == user.id  # logout: the session's user
    text = json.dumps(events)
    assert STRONG not in text and "nope" not in text and token not in text
    printed = run(redis_url, "audit", "tail", "-n", "3")
    assert printed.returncode == 0
    assert [json.loads(line)["event"] for line in printed.stdout.splitlines()][-1] == "rate_limited"


def test_log_lines_are_batched_in_order_and_never_lost() -> None:
    """The log handler writes INFO lines in batches, within its delay; a WARNING goes out at
    once with every line before it, in order; a flush (as at exit) writes what is left."""
    import io
    import time

    from service.logs import BufferedLineHandler

    stream = io.StringIO()
    handler = BufferedLineHandler(stream, max_bytes=1 << 20, max_delay=0.2)
    logger = logging.getLogger("authsvc.test-buffered")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("one")
        logger.info("two")
        assert stream.getvalue() == ""  # batched
        logger.warning("three")
        assert stream.getvalue().split() == ["one", "two", "three"]
        logger.info("four")
        deadline = time.monotonic() + 5
        while "four" not in stream.getvalue():  # the timer writes it
            assert time.monotonic() < deadline, "a batched line was never written"
            time.sleep(0.02)
        logger.info("five")
        handler.flush()
        assert stream.getvalue().split() == ["one", "two", "three", "four", "five"]
        big = BufferedLineHandler(stream, max_bytes=10, max_delay=60)
        logger.addHandler(big)
        logger.info("a line longer than ten bytes")  # past max_bytes: written at once
        assert stream.getvalue().endswith("a line longer than ten bytes\n")
    finally:
        logger.handlers.clear()
        handler.close()


async def test_successful_authchecks_are_logged_at_debug(
    client: Client, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    """An authcheck that succeeds writes its access line at DEBUG (as Coder logs successes);
    one that fails, and every other request, at INFO."""
    await make_user("log@corp.example")
    token = await login(client, "log@corp.example")
    headers = {"Coder-Session-Token": token}
    body = {"checks": {"c": {"action": "read", "object": {"resource_type": "workspace"}}}}
    with caplog.at_level(logging.DEBUG, logger="authsvc.access"):
        assert (await client.post("/api/v2/authcheck", json=body, headers=headers)).status == 200
        assert (await client.post("/api/v2/authcheck", json=body)).status == 401
        assert (await client.get("/api/v2/users/me", headers=headers)).status == 200
    levels = [
        (r.levelname, r.getMessage().split(" ")[:3])
        for r in caplog.records
        if r.name == "authsvc.access"
    ]
    assert levels == [
        ("DEBUG", ["POST", "/api/v2/authcheck", "200"]),
        ("INFO", ["POST", "/api/v2/authcheck", "401"]),
        ("INFO", ["GET", "/api/v2/users/me", "200"]),
    ]
