"""Hot reload of the role policy in a running `serve` process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support import free_port

EXTRA_ROLE = "  - name: support\n    kind: site\n    site: ['license:read']\n"


class Server:
    """A `python -m service serve` process on a loopback port with its own config dir."""

    def __init__(self, config: Path, **env: str) -> None:
        self.port = free_port()
        self.config = config
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
        full_env |= {"AUTHSVC_PORT": str(self.port), "AUTHSVC_CONFIG_DIR": str(config), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.version()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("serve did not start") from None
                time.sleep(0.1)

    def version(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
            return str(resp.headers["X-Authz-Policy-Version"])

    def wait_version(self, old: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while (current := self.version()) == old and time.monotonic() < deadline:
            time.sleep(0.05)
        return current

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.stderr is not None
        return self.process.stderr.read().decode()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


@pytest.fixture
def server(config: Path) -> Iterator[Server]:
    s = Server(config)
    yield s
    s.stop()


def test_sighup_reloads_and_a_bad_file_keeps_the_running_policy(
    server: Server, config: Path
) -> None:
    """SIGHUP loads a valid edit (new version); an invalid edit is refused and logged."""
    before = server.version()
    roles = config / "roles.yaml"
    roles.write_text(roles.read_text() + EXTRA_ROLE)
    server.process.send_signal(signal.SIGHUP)
    after = server.wait_version(before)
    assert after != before
    roles.write_text(roles.read_text() + "  - {name: broken, kind: site, site: [nope:read]}\n")
    server.process.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert server.version() == after
    logs = server.stop()
    failures = [json.loads(line) for line in logs.splitlines() if "policy reload failed" in line]
    assert failures and "unknown resource type 'nope'" in failures[0]["msg"]


def test_file_watch_reloads(config: Path) -> None:
    """With POLICY_WATCH_INTERVAL set, editing roles.yaml reloads without a signal."""
    server = Server(config, AUTHSVC_POLICY_WATCH_INTERVAL="0.2")
    try:
        before = server.version()
        roles = config / "roles.yaml"
        time.sleep(0.05)
        roles.write_text(roles.read_text() + EXTRA_ROLE)
        os.utime(roles, (time.time() + 5, time.time() + 5))
        assert server.wait_version(before) != before
    finally:
        server.stop()
