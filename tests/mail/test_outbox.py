"""The outbox: retries through an SMTP outage, one delivery per job across workers, reclaim."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from service.clock import system_clock
from service.mail.mailer import MailError
from service.mail.templates import one_time_passcode, to_email
from service.mail.worker import OutboxWorker, RetryPolicy
from service.store import keys as store_keys
from service.store.outbox import RedisOutbox
from tests.conftest import AiohttpClient
from tests.support import RecordingSmtp, free_port, wait_until


def mail_data(i: int, **extra: Any) -> dict[str, Any]:
    rendered = one_time_passcode("Coder", f"u{i}", f"u{i}@corp.example", f"code-{i}", "http://x")
    return {**rendered.__dict__, **extra}


async def test_smtp_outage_delays_mail_and_loses_none(
    aiohttp_client: AiohttpClient, redis_url: str
) -> None:
    """SMTP refusing connections, then back: every queued message arrives exactly once."""
    from service import keys
    from service.app import create_app
    from tests.conftest import make_settings

    port = free_port()
    settings = make_settings(
        redis_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_connect_timeout=0.5,
        mail_retry_max_delay=0.3,
    )
    client = await aiohttp_client(create_app(settings, clock=system_clock))
    outbox = client.app[keys.OUTBOX]
    for i in range(5):
        await outbox.enqueue("mail", mail_data(i))
    await wait_until(lambda: client.app[keys.OUTBOX_WORKER].failures >= 5)
    assert (await outbox.stats())["retrying"] >= 1
    smtp = RecordingSmtp(port).start()
    try:
        await wait_until(lambda: len(smtp.messages) >= 5, timeout=15)
        await asyncio.sleep(0.5)
        assert Counter(m["To"] for m in smtp.messages) == {
            f"u{i}@corp.example": 1 for i in range(5)
        }
        assert await outbox.stats() == {
            "depth": 0,
            "queued": 0,
            "in_flight": 0,
            "retrying": 0,
            "dead": 0,
        }
    finally:
        smtp.stop()


class CountingMailer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: Any) -> None:
        await asyncio.sleep(0.001)
        self.sent.append(message["To"])


def make_worker(
    outbox: RedisOutbox, mailer: Any, name: str, claim_after: float = 60
) -> OutboxWorker:
    from service.mail.worker import mail_job_handler

    return OutboxWorker(
        outbox,
        {"mail": mail_job_handler(mailer, "a@b.co", system_clock)},
        consumer=name,
        policy=RetryPolicy(max_attempts=3, max_delay=0.1, claim_after=claim_after, base_delay=0.05),
        clock=system_clock,
        block_ms=100,
    )


async def test_two_workers_never_send_a_message_twice(redis_url: str) -> None:
    """Two workers on one stream: each of 60 jobs is sent exactly once."""
    r = aioredis.from_url(redis_url, decode_responses=True)
    try:
        outbox = RedisOutbox(r)
        await outbox.ensure_group()
        mailer = CountingMailer()
        workers = [make_worker(outbox, mailer, "w1"), make_worker(outbox, mailer, "w2")]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        for i in range(60):
            await outbox.enqueue("mail", mail_data(i))
        await wait_until(lambda: len(mailer.sent) >= 60, timeout=15)
        await asyncio.sleep(0.3)
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
        assert Counter(mailer.sent) == {f"u{i}@corp.example": 1 for i in range(60)}
    finally:
        await r.aclose()


async def test_job_of_a_dead_worker_is_reclaimed(redis_url: str) -> None:
    """A job read by a worker that died is delivered by another after claim_after."""
    r = aioredis.from_url(redis_url, decode_responses=True)
    try:
        outbox = RedisOutbox(r)
        await outbox.ensure_group()
        await outbox.enqueue("mail", mail_data(1))
        taken = await outbox.read("crashed-replica", 10, 100)  # read, then "die"
        assert len(taken) == 1
        mailer = CountingMailer()
        worker = make_worker(outbox, mailer, "survivor", claim_after=0.3)
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: mailer.sent == ["u1@corp.example"], timeout=5)
        worker.stop()
        await task
        assert (await outbox.stats())["depth"] == 0
    finally:
        await r.aclose()


async def test_done_job_is_not_run_again(redis_url: str) -> None:
    """A reclaimed copy of a job already marked done is acknowledged, not re-sent."""
    r = aioredis.from_url(redis_url, decode_responses=True)
    try:
        outbox = RedisOutbox(r)
        await outbox.ensure_group()
        await outbox.enqueue("mail", mail_data(2))
        [delivery] = await outbox.read("w", 10, 100)
        await r.set(store_keys.outbox_done(delivery.job.id), "1", ex=60)
        mailer = CountingMailer()
        worker = make_worker(outbox, mailer, "other", claim_after=0.1)
        await asyncio.sleep(0.15)
        await worker.run_once()
        assert mailer.sent == []
        assert (await outbox.stats())["depth"] == 0
    finally:
        await r.aclose()


async def test_failing_job_becomes_a_dead_letter(redis_url: str) -> None:
    """After max_attempts failures a job is kept as a dead letter, not retried forever."""

    class Broken:
        async def send(self, message: Any) -> None:
            raise MailError("550 mailbox unavailable")

    r = aioredis.from_url(redis_url, decode_responses=True)
    try:
        outbox = RedisOutbox(r)
        await outbox.ensure_group()
        await outbox.enqueue("mail", mail_data(3))
        worker = make_worker(outbox, Broken(), "w")
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: worker.failures >= 3, timeout=10)
        await asyncio.sleep(0.2)
        worker.stop()
        await task
        stats = await outbox.stats()
        assert (stats["dead"], stats["depth"]) == (1, 0)
        assert await r.ttl(store_keys.outbox_dead()) > 0
    finally:
        await r.aclose()


async def test_expired_passcode_mail_is_dropped(redis_url: str) -> None:
    """A reset mail whose code expired while SMTP was down is not sent late."""
    r = aioredis.from_url(redis_url, decode_responses=True)
    try:
        outbox = RedisOutbox(r)
        await outbox.ensure_group()
        await outbox.enqueue("mail", mail_data(4, expires_at=system_clock() - 1))
        mailer = CountingMailer()
        worker = make_worker(outbox, mailer, "w")
        await worker.run_once()
        assert mailer.sent == []
        assert (await outbox.stats())["dead"] == 1
    finally:
        await r.aclose()


def test_message_shape() -> None:
    """Mail is multipart text + HTML with From, To, Subject, Date and the template header."""
    message = to_email(
        one_time_passcode("Acme", "ann", "a@b.co", "c0de", "https://id.acme"),
        "Acme <id@acme.example>",
    )
    assert message["From"] == "Acme <id@acme.example>"
    assert message["Subject"] == "Reset your password for Acme"
    assert message.get_body(preferencelist=("plain",)) is not None
    assert message.get_body(preferencelist=("html",)) is not None
    assert message["Date"] and message["Message-ID"]


async def test_embedded_mode_prints_mail_to_the_log(
    aiohttp_client: AiohttpClient, caplog: Any
) -> None:
    """With no SMTP_HOST the reset mail (with its code) is written to the log."""
    import logging

    from service import keys
    from service.app import create_app
    from service.auth.users import NewUser
    from service.settings import Settings
    from tests.conftest import ROOT

    settings = Settings(config_dir=ROOT / "config", argon2_memory_cost=64, argon2_time_cost=1)
    client = await aiohttp_client(create_app(settings))
    app = client.app
    await app[keys.DIRECTORY].create(NewUser("emb@corp.example", "emb", "x"))
    with caplog.at_level(logging.WARNING, logger="service.mail.mailer"):
        resp = await client.post("/api/v2/users/otp/request", json={"email": "emb@corp.example"})
        assert resp.status == 204
        await wait_until(lambda: "Reset your password" in caplog.text, timeout=5)
    assert "To: emb@corp.example" in caplog.text
    assert "/reset-password/change?otp=" in caplog.text


async def test_smtp_down_for_a_minute(aiohttp_client: AiohttpClient, redis_url: str) -> None:
    """SMTP refusing connections for a minute: codes requested meanwhile arrive afterwards,
    once each, and work (default retry settings)."""
    import re
    import time

    from service import keys
    from service.app import create_app
    from service.auth.users import NewUser
    from tests.conftest import make_settings

    port = free_port()
    client = await aiohttp_client(
        create_app(
            make_settings(redis_url, smtp_host="127.0.0.1", smtp_port=port), clock=system_clock
        )
    )
    app = client.app
    emails = [f"late{i}@corp.example" for i in range(3)]
    for email in emails:
        user = await app[keys.DIRECTORY].create(NewUser(email, email.split("@")[0], ""))
        assert user is not None
    started = time.monotonic()
    for i, email in enumerate(emails):  # requested at 0 s, 20 s and 40 s of the outage
        assert (await client.post("/api/v2/users/otp/request", json={"email": email})).status == 204
        await asyncio.sleep(20 if i < 2 else 0)
    await asyncio.sleep(max(0.0, 60 - (time.monotonic() - started)))
    assert app[keys.OUTBOX_WORKER].failures >= 3
    smtp = RecordingSmtp(port).start()
    try:
        await wait_until(lambda: len(smtp.messages) >= 3, timeout=45)
        await asyncio.sleep(1)
        assert sorted(m["To"] for m in smtp.messages) == sorted(emails)
        for message in list(smtp.messages):  # the reset mails (each success adds a notice)
            code = re.search(
                r"passcode: (\S+)", message.get_body(preferencelist=("plain",)).get_content()
            )
            assert code
            resp = await client.post(
                "/api/v2/users/otp/change-password",
                json={
                    "email": message["To"],
                    "one_time_passcode": code.group(1),
                    "password": "After-Outage-42!",
                },
            )
            assert resp.status == 204
    finally:
        smtp.stop()


def test_reset_mail_html_offers_the_button_before_the_code() -> None:
    """The HTML says "Use the button below", shows it, then "Or enter this one-time passcode"."""
    from service.mail.templates import one_time_passcode

    mail = one_time_passcode("Acme", "pat", "pat@corp.example", "code-123", "http://a.test")
    button = mail.html.index("Reset password</a>")
    assert mail.html.index("Use the button below") < button < mail.html.index("Or enter this")
