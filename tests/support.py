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


def terminate(process: subprocess.Popen[Any]) -> None:
    """Stop a child process: SIGTERM, then SIGKILL after 10 seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(ready: Any, process: subprocess.Popen[Any], timeout: float, what: str) -> None:
    """Poll `ready()` until it stops raising OSError; fail if the process exits or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


@dataclass
class RedisServer:
    """A redis-server process this test run started (stop it with `stop`)."""

    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, keep_data: bool = False) -> None:
        terminate(self.process)
        if not keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def crash(self) -> None:
        """SIGKILL: no shutdown, no final save."""
        self.process.kill()
        self.process.wait()


def start_redis(port: int | None = None, *extra: str, workdir: str | None = None) -> RedisServer:
    """Start redis-server on 127.0.0.1 and wait until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = port or free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="authsvc-redis-")
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


@dataclass
class RedisGroup:
    """Several redis-server processes (a Cluster or a Sentinel set) and their URL."""

    url: str
    servers: list[RedisServer]
    sentinel_ports: list[int]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _cli(*args: str) -> str:
    binary = shutil.which("redis-cli")
    if binary is None:
        raise RuntimeError("redis-cli is not installed (Debian package redis-tools)")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def start_cluster(masters: int = 3) -> RedisGroup:
    """A Redis Cluster of `masters` primaries on loopback ports, slots assigned, state ok."""
    servers = []
    try:
        for _ in range(masters):
            port = _cluster_port()
            servers.append(
                start_redis(
                    port,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                )
            )
        addresses = [f"127.0.0.1:{s.port}" for s in servers]
        _cli("--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes")
        # Every node must say ok: the others learn the slot map by gossip a moment after the
        # first, and a command routed to one that has not yet answers CLUSTERDOWN.
        deadline = time.monotonic() + 20
        while not all(
            "cluster_state:ok" in _cli("-p", str(s.port), "cluster", "info") for s in servers
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not become ready")
            time.sleep(0.1)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return RedisGroup("redis+cluster://" + ",".join(addresses), servers, [])


def start_sentinel_set(name: str = "mymaster") -> RedisGroup:
    """A master, one replica and three Sentinels watching them, on loopback ports."""
    master = start_redis()
    servers = [master]
    try:
        replica = start_redis(None, "--replicaof", "127.0.0.1", str(master.port))
        servers.append(replica)
        sentinel_ports = []
        for _ in range(3):
            port = free_port()
            workdir = tempfile.mkdtemp(prefix="authsvc-sentinel-")
            conf = os.path.join(workdir, "sentinel.conf")
            with open(conf, "w") as f:
                f.write(
                    f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor {name} 127.0.0.1 {master.port} 2\n"
                    f"sentinel down-after-milliseconds {name} 1000\n"
                    f"sentinel failover-timeout {name} 4000\n"
                )
            process = subprocess.Popen(
                [shutil.which("redis-server") or "redis-server", conf, "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            servers.append(RedisServer(port, process, workdir))
            sentinel_ports.append(port)
        deadline = time.monotonic() + 20
        for port in sentinel_ports:
            while True:
                try:
                    reply = _cli("-p", str(port), "sentinel", "get-master-addr-by-name", name)
                    if str(master.port) in reply:
                        break
                except subprocess.CalledProcessError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the sentinels did not come up")
                time.sleep(0.1)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    hosts = ",".join(f"127.0.0.1:{p}" for p in sentinel_ports)
    return RedisGroup(f"redis+sentinel://{hosts}/{name}", servers, sentinel_ports)


def sentinel_master_port(group: RedisGroup, name: str = "mymaster") -> int:
    """The master port the first Sentinel reports now."""
    reply = _cli("-p", str(group.sentinel_ports[0]), "sentinel", "get-master-addr-by-name", name)
    return int(reply.split()[-1])


def sentinel_failover(group: RedisGroup, name: str = "mymaster") -> None:
    """Force a failover now."""
    _cli("-p", str(group.sentinel_ports[0]), "sentinel", "failover", name)


class ServeProcess:
    """`python -m service serve` as a real process on a loopback port."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        import sys
        from pathlib import Path

        self.port = port or free_port()
        root = Path(__file__).resolve().parent.parent
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
        full_env |= {"AUTHSVC_PORT": str(self.port), **env}
        # Logs go to a file: an unread pipe fills up and blocks the server mid-request.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=root,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        try:
            wait_ready(lambda: self.get("/healthz").close(), self.process, 20, "serve")
            if port is not None:
                # A port shared with another process (SO_REUSEPORT) answers before this one
                # listens: wait for this process's own word.
                wait_ready(self._listening, self.process, 20, "serve (listening)")
        except RuntimeError:
            self.stop()
            raise

    def _listening(self) -> None:
        # pread: the process writes through the same open file, whose offset must not move.
        fd = self._log.fileno()
        if b'"listening on http' not in os.pread(fd, os.fstat(fd).st_size, 0):
            raise OSError("not listening yet")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> Any:
        import urllib.request

        return urllib.request.urlopen(self.url + path, timeout=2)  # noqa: S310 - loopback

    def version(self) -> str:
        with self.get("/healthz") as resp:
            return str(resp.headers["X-Authz-Policy-Version"])

    def wait_version(self, old: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while (current := self.version()) == old and time.monotonic() < deadline:
            time.sleep(0.05)
        return current

    def stop(self) -> str:
        """Stop (SIGINT) and return what it logged."""
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log.closed:
            return ""
        self._log.seek(0)
        logs = self._log.read().decode()
        self._log.close()
        return logs


class Nginx:
    """A real nginx (Debian package) on a loopback port, round-robining `upstreams`."""

    def __init__(self, upstreams: list[int]) -> None:
        from pathlib import Path

        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise RuntimeError("nginx is not installed (Debian package nginx)")
        self.port = free_port()
        self.prefix = tempfile.mkdtemp(prefix="authsvc-nginx-")
        source = (Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf").read_text()
        servers = "".join(
            f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in upstreams
        )
        conf = source.replace(
            "    server authsvc-1:8080 max_fails=1 fail_timeout=5s;\n"
            "    server authsvc-2:8080 max_fails=1 fail_timeout=5s;\n",
            servers,
        ).replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace(
            "events {",
            f"pid {self.prefix}/nginx.pid;\nerror_log {self.prefix}/error.log;\nevents {{",
        ).replace(
            "http {",
            "http {\n  access_log off;\n"
            + "".join(
                f"  {kind}_temp_path {self.prefix}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            ),
        )
        path = os.path.join(self.prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.process = subprocess.Popen(
            [binary, "-p", self.prefix, "-c", path, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(
                lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close(),
                self.process,
                10,
                "nginx",
            )
        except RuntimeError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        terminate(self.process)
        shutil.rmtree(self.prefix, ignore_errors=True)
