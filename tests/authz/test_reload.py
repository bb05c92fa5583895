"""Hot reload of the role policy in a running `serve` process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support import ServeProcess

EXTRA_ROLE = "  - name: support\n    kind: site\n    site: ['license:read']\n"


def start_serve(config: Path, **env: str) -> ServeProcess:
    """`serve` with its own config directory."""
    return ServeProcess({"AUTHSVC_CONFIG_DIR": str(config), **env})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


@pytest.fixture
def server(config: Path) -> Iterator[ServeProcess]:
    s = start_serve(config)
    yield s
    s.stop()


def test_sighup_reloads_and_a_bad_file_keeps_the_running_policy(
    server: ServeProcess, config: Path
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
    server = start_serve(config, AUTHSVC_POLICY_WATCH_INTERVAL="0.2")
    try:
        before = server.version()
        roles = config / "roles.yaml"
        time.sleep(0.05)
        roles.write_text(roles.read_text() + EXTRA_ROLE)
        os.utime(roles, (time.time() + 5, time.time() + 5))
        assert server.wait_version(before) != before
    finally:
        server.stop()
