"""Helpers shared by tests: a controllable clock, a redis-server process, user factories."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

STRONG = "SomeSecurePassword!"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server process this test run started (stop it with `stop`)."""

    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(port: int | None = None, *extra: str) -> RedisServer:
    """Start redis-server on 127.0.0.1 and wait until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="authsvc-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, process, workdir)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    client.close()
    return server


@contextmanager
def redis_for_tests() -> Iterator[str]:
    """REDIS_URL when set, else a redis-server of our own for the whole run."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


def json_of(data: bytes) -> Any:
    """Parse a response body."""
    import json

    return json.loads(data)


class RecordingSmtp:
    """An aiosmtpd server on 127.0.0.1 that records every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.port = port or free_port()
        self.messages: list[Any] = []
        recorder = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                import email
                from email import policy

                recorder.messages.append(
                    email.message_from_bytes(envelope.original_content, policy=policy.default)
                )
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> RecordingSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Any]:
        """Messages addressed to `address`."""
        return [m for m in self.messages if m["To"] == address]


async def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll `predicate()` (sync) until true; fail after `timeout` seconds."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
