"""docker-compose.yml, deploy/nginx.conf and the Dockerfile agree with the code's settings."""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from service.settings import Settings
from tests.conftest import ROOT


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_present() -> None:
    """Redis, Mailpit, two authsvc replicas and nginx."""
    assert set(compose()["services"]) == {"redis", "mailpit", "authsvc-1", "authsvc-2", "nginx"}


def test_replica_settings_are_real_and_shared() -> None:
    """Every AUTHSVC_* variable names a setting; both replicas share one SECRET_KEY."""
    services = compose()["services"]
    envs = [services[name]["environment"] for name in ("authsvc-1", "authsvc-2")]
    assert envs[0] == envs[1]
    for key in envs[0]:
        assert key.startswith("AUTHSVC_")
        assert key.removeprefix("AUTHSVC_").lower() in Settings.model_fields, key
    assert "AUTHSVC_SECRET_KEY" in envs[0]
    settings = Settings(
        **{
            k.removeprefix("AUTHSVC_").lower(): v
            for k, v in envs[0].items()
            if k != "AUTHSVC_SECRET_KEY"
        },
        secret_key=secrets.token_hex(32),  # what the compose file tells the operator to use
    )
    assert settings.mail_transport_problem() is None  # the stack has a real SMTP server


def test_wiring_points_at_the_right_services() -> None:
    """REDIS_URL names the redis service, SMTP the mailpit service and its SMTP port."""
    services = compose()["services"]
    env = services["authsvc-1"]["environment"]
    assert env["AUTHSVC_REDIS_URL"].startswith("redis://redis:6379")
    assert env["AUTHSVC_SMTP_HOST"] == "mailpit" and env["AUTHSVC_SMTP_PORT"] == "1025"
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "8025:8025" in services["mailpit"]["ports"]
    assert services["nginx"]["ports"] == ["8080:8080"]
    assert any(v.startswith("./config:") for v in services["authsvc-1"]["volumes"])


def test_nginx_round_robins_both_replicas_on_the_service_port() -> None:
    """The upstream lists both replicas on the port authsvc listens on in the image."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    port = re.search(r"AUTHSVC_PORT=(\d+)", (ROOT / "Dockerfile").read_text())
    assert port
    servers = re.findall(r"server (authsvc-\d):(\d+)", conf)
    assert servers == [("authsvc-1", port.group(1)), ("authsvc-2", port.group(1))]
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in conf
    assert re.search(r"listen 8080;", conf)


def test_dockerfile() -> None:
    """Numeric non-root user, config as a volume, a health check, dependencies in their own
    layer, and every setting from the environment (no flag overrides AUTHSVC_HOST)."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "AUTHSVC_HOST=0.0.0.0" in text
    deps = text.index("-r requirements.txt")
    assert deps < text.index("COPY service ./service")
    config = re.search(r"AUTHSVC_CONFIG_DIR=(\S+)", text)
    assert config and f'VOLUME ["{config.group(1)}"]' in text
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert 'CMD ["python", "-m", "service", "serve"]' in text


def test_compose_file_matches_the_compose_spec() -> None:
    """check-jsonschema validates docker-compose.yml against the compose-spec schema."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_image_is_pinned() -> None:
    """No `latest`, no bare major version: every image names a full version."""
    images = [s["image"] for s in compose()["services"].values() if "image" in s]
    images += re.findall(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    for image in images:
        _, _, tag = image.rpartition(":")
        assert re.match(r"^v?\d+\.\d+\.\d+", tag), image


def test_only_the_proxy_is_trusted_and_it_waits_for_healthy_replicas() -> None:
    """TRUSTED_PROXIES names nginx's fixed address in the stack's fixed subnet; nginx starts
    once both replicas are healthy."""
    data = compose()
    subnet = ipaddress.ip_network(data["networks"]["default"]["ipam"]["config"][0]["subnet"])
    nginx = data["services"]["nginx"]
    address = ipaddress.ip_address(nginx["networks"]["default"]["ipv4_address"])
    assert address in subnet
    trusted = data["services"]["authsvc-1"]["environment"]["AUTHSVC_TRUSTED_PROXIES"]
    assert trusted == f"{address}/32"
    assert nginx["depends_on"] == {
        "authsvc-1": {"condition": "service_healthy"},
        "authsvc-2": {"condition": "service_healthy"},
    }


def test_nginx_accepts_the_shipped_config() -> None:
    """`nginx -t` on deploy/nginx.conf with only the replicas' names replaced."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("authsvc-1:8080", "127.0.0.1:8081").replace(
        "authsvc-2:8080", "127.0.0.1:8082"
    )
    with tempfile.TemporaryDirectory() as prefix:
        conf = conf.replace(
            "events {", f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{"
        )
        path = Path(prefix) / "nginx.conf"
        path.write_text(conf)
        result = subprocess.run(
            [binary, "-t", "-p", prefix, "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "proxy_next_upstream error timeout;" in conf  # a replica's 503 is passed through
    assert "location = /metrics" in conf


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (the Dockerfile linter) finds nothing in the Dockerfile."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
