"""The command line: users administration against the shared Redis, and start-up errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from service.auth.passwords import pbkdf2_hash
from tests.conftest import ROOT
from tests.support import free_port, terminate, wait_ready

SECRET = "cli-test-secret-0123456789"


def run(
    redis_url: str | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m service ...` as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    if redis_url:
        full_env["AUTHSVC_REDIS_URL"] = redis_url
        full_env["AUTHSVC_SECRET_KEY"] = SECRET
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def make_org(redis_url: str, name: str) -> str:
    """Create an organization with the CLI; its id."""
    org: str = ok(run(redis_url, "orgs", "create", name))["id"]
    return org


def test_users_create_get_list_set(redis_url: str) -> None:
    """create prints the user; get/list find it; set-status and set-roles change it."""
    org = make_org(redis_url, "eng")
    user = ok(
        run(
            redis_url,
            "users",
            "create",
            "--email",
            "Ann@Corp.example",
            "--username",
            "ann",
            "--password",
            "SomeSecurePassword!",
            "--role",
            "auditor",
            "--org",
            f"{org}:organization-admin",
        )
    )
    assert user["email"] == "Ann@Corp.example" and uuid.UUID(user["id"])
    assert user["roles"] == [{"name": "auditor", "display_name": "Auditor"}]
    assert user["organizations"] == {org: ["organization-admin"]}
    assert "hashed_password" not in user
    assert ok(run(redis_url, "users", "get", "ann@corp.example"))["id"] == user["id"]
    assert ok(run(redis_url, "users", "get", user["id"]))["username"] == "ann"
    assert ok(run(redis_url, "users", "get", "ann"))["id"] == user["id"]
    assert [u["id"] for u in ok(run(redis_url, "users", "list"))] == [user["id"]]
    assert ok(run(redis_url, "users", "set-status", "ann", "suspended"))["status"] == "suspended"
    updated = ok(run(redis_url, "users", "set-roles", "ann", "--role", "owner", "--org", f"{org}:"))
    assert updated["roles"] == [{"name": "owner", "display_name": "Owner"}]
    assert updated["organizations"] == {org: []}


def test_users_default_org_and_import(redis_url: str) -> None:
    """Without --org users join one default org; a Coder PBKDF2 hash can be imported."""
    a = ok(
        run(
            redis_url,
            "users",
            "create",
            "--email",
            "a@corp.example",
            "--username",
            "a",
            "--password-hash",
            pbkdf2_hash("x", bytes(16)),
        )
    )
    b = ok(
        run(
            redis_url,
            "users",
            "create",
            "--email",
            "b@corp.example",
            "--username",
            "b",
            "--login-type",
            "oidc",
            "--status",
            "dormant",
        )
    )
    assert list(a["organizations"]) == list(b["organizations"]) and len(a["organizations"]) == 1
    assert b["login_type"] == "oidc" and b["status"] == "dormant"


def test_users_errors(redis_url: str) -> None:
    """Duplicates, bad hashes, unknown users and bad org ids fail with one clear line."""
    ok(run(redis_url, "users", "create", "--email", "c@corp.example", "--username", "c"))
    cases = [
        (("create", "--email", "C@corp.example", "--username", "c2"), "email already exists"),
        (("create", "--email", "d@corp.example", "--username", "C"), "username already exists"),
        (
            ("create", "--email", "e@corp.example", "--username", "e", "--password-hash", "md5"),
            "--password-hash",
        ),
        (("get", "nobody"), "no user 'nobody'"),
        (("create", "--email", "f@corp.example", "--username", "Bad Name"), "--username"),
        (("create", "--email", "notanemail", "--username", "g"), "--email"),
        (
            ("create", "--email", "h@corp.example", "--username", "h", "--password", "short"),
            "--password: insecure password",
        ),
        (("set-roles", "c", "--org", "not-an-org"), "no organization 'not-an-org'"),
        (
            ("create", "--email", "i@corp.example", "--username", "i", "--org", str(uuid.uuid4())),
            "no organization",
        ),
    ]
    for args, message in cases:
        result = run(redis_url, "users", *args)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr


def test_users_refuse_embedded_store() -> None:
    """User commands explain that memory:// is per-process instead of silently losing data."""
    result = run(None, "users", "list")
    assert result.returncode == 2
    assert "AUTHSVC_REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ((), {"AUTHSVC_PORT": "http"}, "invalid setting AUTHSVC_PORT (--port)"),
        (("--port", "http"), {}, "invalid setting AUTHSVC_PORT (--port)"),
        (("--session-duration", "forever"), {}, "AUTHSVC_SESSION_DURATION (--session-duration)"),
        ((), {"AUTHSVC_REDIS_URL": "redis://127.0.0.1:1"}, "AUTHSVC_SECRET_KEY is required"),
        ((), {"AUTHSVC_CONFIG_DIR": "nonexistent-authsvc"}, "resources.yaml: cannot read"),
    ],
)
def test_serve_bad_settings_stop_startup_with_one_line(
    flags: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    """A bad setting (flag or environment) or missing config stops `serve` with one line."""
    env = {"AUTHSVC_PORT": str(free_port()), **env}
    result = run(None, "serve", *flags, env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("authsvc:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_policy_check(tmp_path: Path) -> None:
    """`policy check` accepts the shipped config and names the file, role and entry otherwise."""
    result = run(None, "policy", "check", str(ROOT / "config"))
    assert result.returncode == 0 and "11 roles" in result.stdout
    shutil.copytree(ROOT / "config", tmp_path / "c")
    roles = tmp_path / "c" / "roles.yaml"
    roles.write_text(roles.read_text() + "  - {name: x, kind: site, site: [templat:read]}\n")
    result = run(None, "policy", "check", str(tmp_path / "c"))
    assert result.returncode == 2
    assert (
        f"{roles}: role 'x' site[0] 'templat:read': unknown resource type 'templat'"
        in result.stderr
    )


def test_policy_explain(redis_url: str) -> None:
    """`policy explain` prints the decision, level and role for a stored user."""
    org = make_org(redis_url, "tpl")
    ok(
        run(
            redis_url,
            "users",
            "create",
            "--email",
            "x@corp.example",
            "--username",
            "x",
            "--org",
            f"{org}:organization-template-admin",
        )
    )
    out = ok(
        run(
            redis_url,
            "policy",
            "explain",
            "--user",
            "x@corp.example",
            "--action",
            "update",
            "--type",
            "template",
            "--org",
            org,
        )
    )
    assert out["allowed"] is True and out["level"] == "org"
    assert out["roles"] == [f"organization-template-admin:{org}"]
    out = ok(
        run(
            redis_url, "policy", "explain", "--user", "x", "--action", "read", "--type", "audit_log"
        )
    )
    assert out["allowed"] is False and out["level"] == "none"


def test_unknown_roles_are_refused(redis_url: str) -> None:
    """users create/set-roles refuse roles the policy does not define, or of the wrong kind."""
    org = make_org(redis_url, "ops")
    cases = [
        ("create", "--email", "y@corp.example", "--username", "y", "--role", "superuser"),
        ("create", "--email", "y@corp.example", "--username", "y", "--role", "organization-admin"),
        ("create", "--email", "y@corp.example", "--username", "y", "--org", f"{org}:owner"),
    ]
    for args in cases:
        result = run(redis_url, "users", *args)
        assert result.returncode == 2 and "roles.yaml" in result.stderr


def test_mail_status(redis_url: str) -> None:
    """`mail status` prints the outbox depth as JSON."""
    out = ok(run(redis_url, "mail", "status"))
    assert out == {"depth": 0, "queued": 0, "in_flight": 0, "retrying": 0, "dead": 0}


def test_user_commands_need_no_secret(redis_url: str) -> None:
    """`users list` works with only AUTHSVC_REDIS_URL: nothing it does is keyed."""
    result = run(None, "users", "list", env={"AUTHSVC_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout or "[]") == [] or result.stdout.strip() == ""


def test_serve_from_another_directory(tmp_path: Path) -> None:
    """Without CONFIG_DIR the packaged baseline policy is used: `serve` runs from anywhere."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env["AUTHSVC_PORT"] = str(port)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_ready(
                lambda: urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ).close(),
                process,
                20,
                "serve",
            )
        finally:
            terminate(process)
    checked = subprocess.run(
        [sys.executable, "-m", "service", "policy", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "service/baseline" in checked.stdout  # it says which directory it read


def test_objects_import_and_explain_resource(redis_url: str, tmp_path: Path) -> None:
    """`objects import` registers JSON lines all or nothing; `policy explain --resource-id`
    names the rule that decided: a role, the user ACL, or none."""
    org = make_org(redis_url, "platform")
    user = ok(run(redis_url, "users", "create", "--email", "d@corp.example", "--username", "d",
                  "--org", f"{org}:organization-member"))  # fmt: skip
    shared, private = str(uuid.uuid4()), str(uuid.uuid4())
    lines = [
        {"resource_type": "template", "resource_id": shared, "organization_id": org,
         "acl": {"users": {user["id"]: "use"}}},
        {"resource_type": "template", "resource_id": private, "organization_id": org},
    ]  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(x) for x in [*lines, {"resource_type": "user"}]) + "\n")
    result = run(redis_url, "objects", "import", str(bad))
    assert result.returncode == 2 and "objects[2]" in result.stderr
    assert "nothing imported" in result.stderr
    good = tmp_path / "objects.jsonl"
    good.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert ok(run(redis_url, "objects", "import", str(good))) == {"imported": 2}

    def explain(resource_id: str, action: str) -> Any:
        return ok(run(redis_url, "policy", "explain", "--user", "d", "--action", action,
                      "--type", "template", "--resource-id", resource_id))  # fmt: skip

    out = explain(shared, "use")
    assert (out["allowed"], out["rule"]) == (True, "user ACL")
    out = explain(shared, "update")
    assert (out["allowed"], out["rule"]) == (False, "none")
    out = explain(private, "read")
    assert (out["allowed"], out["rule"]) == (False, "none")
    out = explain(str(uuid.uuid4()), "read")
    assert out["allowed"] is False and "is registered" in out["reason"]
