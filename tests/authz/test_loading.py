"""Loading roles.yaml: validation errors name the file, the role and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.authz.config import ConfigError
from service.authz.policy import load_policy
from service.authz.resources import load_resources

CONFIG = Path(__file__).resolve().parents[2] / "config"

BASE = """roles:
  - {name: member, kind: site}
  - {name: organization-member, kind: organization}
"""


def load(tmp_path: Path, extra: str) -> None:
    shutil.copy(CONFIG / "resources.yaml", tmp_path / "resources.yaml")
    (tmp_path / "roles.yaml").write_text(BASE + extra)
    load_policy(tmp_path, load_resources(tmp_path / "resources.yaml"))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (
            "  - {name: bad, kind: site, site: [workspce:read]}\n",
            "role 'bad' site[0] 'workspce:read': unknown resource type 'workspce'",
        ),
        (
            "  - {name: bad, kind: site, site: ['template:fly']}\n",
            "role 'bad' site[0] 'template:fly': resource type 'template' has no action 'fly'",
        ),
        ("  - {name: member, kind: site}\n", "role 'member': duplicate role"),
        (
            "  - {name: bad, kind: site, org: [template:read]}\n",
            "role 'bad': a site role cannot have `org` permissions",
        ),
        ("  - {name: bad, kind: galaxy}\n", "role 'bad': `kind` must be"),
        ("  - {name: Bad_Name, kind: site}\n", "roles[2]: `name` must be"),
        (
            "  - {name: bad, kind: site, site: [{all_except: [nope], actions: ['*']}]}\n",
            "unknown resource type 'nope' in all_except",
        ),
        ("  - {name: bad, kind: site, colour: red}\n", "role 'bad': unknown key(s) colour"),
        ("  - {name: bad, kind: site, site: ['template']}\n", "is not of the form"),
        ("  - [not, a, mapping\n", "not valid YAML"),
    ],
)
def test_invalid_roles_name_file_role_and_entry(tmp_path: Path, extra: str, fragment: str) -> None:
    """Each mistake raises ConfigError with the file path and the offending role/entry."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, extra)
    assert str(tmp_path / "roles.yaml") in str(info.value)
    assert fragment in str(info.value)


def test_implicit_roles_are_required(tmp_path: Path) -> None:
    """member and organization-member must be defined."""
    shutil.copy(CONFIG / "resources.yaml", tmp_path / "resources.yaml")
    (tmp_path / "roles.yaml").write_text("roles:\n  - {name: member, kind: site}\n")
    with pytest.raises(ConfigError, match="'organization-member' must be defined"):
        load_policy(tmp_path, load_resources(tmp_path / "resources.yaml"))


def test_shipped_policy_and_operator_role(tmp_path: Path) -> None:
    """The shipped file loads; an operator's custom role with wildcards loads beside it."""
    shutil.copytree(CONFIG, tmp_path / "c")
    roles = tmp_path / "c" / "roles.yaml"
    roles.write_text(
        roles.read_text()
        + "  - name: support\n    kind: site\n    site: ['user:read', '*:read', '!license:*']\n"
    )
    policy = load_policy(tmp_path / "c", load_resources(tmp_path / "c" / "resources.yaml"))
    assert "support" in policy.roles
    assert len(policy.version) == 12
