"""A truth table per built-in role over every resource type and action of spec §7.1.

The expected permissions below are transcribed from spec §7.3's prose, independently of
config/roles.yaml, and compared with the engine's answers for three object shapes:
"anywhere" (site level), "in my organization" (site + org) and "mine" (site + user).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.authz.policy import Obj, Policy, RoleSet, load_policy
from service.authz.resources import ResourceTable, load_resources

CONFIG = Path(__file__).resolve().parents[2] / "config"
ME = "11111111-1111-1111-1111-111111111111"
ORG = "22222222-2222-2222-2222-222222222222"
Pairs = set[tuple[str, str]]


@pytest.fixture(scope="module")
def table() -> ResourceTable:
    return load_resources(CONFIG / "resources.yaml")


@pytest.fixture(scope="module")
def policy(table: ResourceTable) -> Policy:
    return load_policy(CONFIG, table)


def pairs(table: ResourceTable, spec: dict[str, str]) -> Pairs:
    """{'template': 'read,update', 'file': 'ALL'} -> {(template, read), ...}."""
    out: Pairs = set()
    for resource, actions in spec.items():
        names = table.resources[resource] if actions == "ALL" else actions.split(",")
        out |= {(resource, a) for a in names}
    return out


def every_except(table: ResourceTable, *excluded: str) -> Pairs:
    return {
        (r, a)
        for r, acts in table.resources.items()
        if r != "*" and r not in excluded
        for a in acts
    }


DORMANT = "read,delete,create,update,stop"


def expected_sets(table: ResourceTable) -> dict[str, dict[str, Pairs]]:
    """Per role: site, org and user permission pairs, from spec §7.3."""
    ws_all = table.resources["workspace"]
    return {
        "owner": {
            "site": every_except(table, "workspace", "workspace_dormant", "prebuilt_workspace")
            | pairs(
                table,
                {
                    "workspace": "ALL",
                    "workspace_dormant": DORMANT,
                    "prebuilt_workspace": "update,delete",
                },
            ),
        },
        "member": {
            "site": pairs(
                table,
                {
                    "assign_role": "read",
                    "provisioner_daemon": "read",
                    "oauth2_app": "read",
                    "workspace_proxy": "read",
                },
            ),
            "user": every_except(table, "workspace_dormant", "user", "organization_member")
            | pairs(
                table, {"workspace_dormant": DORMANT, "user": "read,read_personal,update_personal"}
            ),
        },
        "auditor": {
            "site": pairs(
                table,
                {
                    "template": "read,view_insights",
                    "audit_log": "read",
                    "connection_log": "read",
                    "user": "read",
                    "group": "read",
                    "deployment_stats": "read",
                    "deployment_config": "read",
                    "organization_member": "read",
                },
            ),
        },
        "template-admin": {
            "site": pairs(
                table,
                {
                    "template": "create,read,update,delete,view_insights",
                    "file": "create,read",
                    "workspace": "read",
                    "provisioner_daemon": "create,read,update,delete",
                    "organization": "read",
                    "user": "read",
                    "group": "read",
                    "organization_member": "read",
                },
            ),
        },
        # Coder's current roles.go: creating a user makes it an organization member, which
        # takes assign_org_role (v2.16's user admin could not create users).
        "user-admin": {
            "site": pairs(
                table,
                {
                    "assign_role": "assign,unassign,read",
                    "assign_org_role": "assign,unassign,read",
                    "user": "ALL",
                    "organization": "read",
                    "organization_member": "ALL",
                    "group": "ALL",
                    "group_member": "read",
                    "idpsync_settings": "read,update",
                },
            ),
        },
        "organization-admin": {
            "org": every_except(table, "workspace", "workspace_dormant")
            | {("workspace", a) for a in ws_all if a not in ("ssh", "application_connect")}
            | pairs(table, {"workspace_dormant": DORMANT}),
        },
        "organization-member": {
            "org": pairs(table, {"organization": "read", "assign_org_role": "read"}),
            "user": pairs(table, {"organization_member": "read"}),
        },
        "organization-auditor": {
            "org": pairs(
                table,
                {
                    "audit_log": "read",
                    "connection_log": "read",
                    "template": "read,view_insights",
                    "group": "read",
                    "group_member": "read",
                    "organization": "read",
                    "organization_member": "read",
                },
            ),
        },
        "organization-user-admin": {
            "site": pairs(table, {"user": "read"}),
            "org": pairs(
                table,
                {
                    "assign_org_role": "assign,unassign,read",
                    "organization": "read",
                    "organization_member": "ALL",
                    "group": "ALL",
                    "group_member": "ALL",
                    "idpsync_settings": "read,update",
                },
            ),
        },
        "organization-template-admin": {
            "org": pairs(
                table,
                {
                    "template": "ALL",
                    "file": "create,read",
                    "workspace": "read",
                    "prebuilt_workspace": "update,delete",
                    "organization": "read",
                    "organization_member": "read",
                    "group": "read",
                    "group_member": "read",
                    "provisioner_daemon": "create,read,update,delete",
                    "provisioner_jobs": "read",
                },
            ),
        },
    }


SITE_ROLES = ["owner", "member", "auditor", "template-admin", "user-admin"]
ORG_ROLES = [
    "organization-admin",
    "organization-member",
    "organization-auditor",
    "organization-user-admin",
    "organization-template-admin",
]


@pytest.mark.parametrize("role", SITE_ROLES + ORG_ROLES)
def test_role_truth_table(role: str, policy: Policy, table: ResourceTable) -> None:
    """The engine's answers equal the transcribed rules for every type and action."""
    rules = expected_sets(table)
    held_site = ["member"] + ([role] if role in SITE_ROLES else [])
    held_org = ["organization-member"] + ([role] if role in ORG_ROLES else [])

    def union(level: str, names: list[str]) -> Pairs:
        return set().union(*(rules[n].get(level, set()) for n in names))

    site = union("site", held_site + held_org)
    org = union("org", held_org)
    user = union("user", held_site + held_org)
    subject = policy.subject(RoleSet.of([role] if role in SITE_ROLES else [], {ORG: held_org[1:]}))
    questions = [(r, a) for r, acts in table.resources.items() for a in acts]
    mismatches = []
    for resource, action in questions:
        shapes = {
            "anywhere": (Obj(resource), (resource, action) in site),
            "in-org": (Obj(resource, org=ORG), (resource, action) in site | org),
            "mine": (Obj(resource, owner=ME), (resource, action) in site | user),
        }
        for shape, (obj, expected) in shapes.items():
            if subject.allowed(ME, action, obj) != expected:
                mismatches.append((shape, resource, action, expected))
    assert mismatches == []


def test_creation_ban_denies_in_its_org_only(policy: Policy) -> None:
    """The ban's negative permissions block workspace create/delete in its org, not elsewhere."""
    banned = policy.subject(RoleSet.of([], {ORG: ["organization-workspace-creation-ban"]}))
    other = "33333333-3333-3333-3333-333333333333"
    assert not banned.allowed(ME, "create", Obj("workspace", owner=ME, org=ORG))
    assert not banned.allowed(ME, "delete", Obj("workspace", owner=ME, org=ORG))
    assert banned.allowed(ME, "read", Obj("workspace", owner=ME, org=ORG))
    assert banned.allowed(ME, "create", Obj("workspace", owner=ME))
    assert not banned.allowed(ME, "create", Obj("workspace", owner=ME, org=other))  # not a member
    # A site-level allow (owner) is above the org deny.
    owner = policy.subject(RoleSet.of(["owner"], {ORG: ["organization-workspace-creation-ban"]}))
    assert owner.allowed(ME, "create", Obj("workspace", org=ORG))


def test_org_role_as_site_role_grants_nothing(policy: Policy) -> None:
    """An organization role listed among site roles (or a missing role) grants nothing."""
    odd = policy.subject(RoleSet.of(["organization-admin", "no-such-role"], {}))
    plain = policy.subject(RoleSet.of([], {}))
    for resource in ("template", "workspace", "license"):
        assert odd.allowed(ME, "read", Obj(resource)) == plain.allowed(ME, "read", Obj(resource))


def test_explain_names_level_and_role(policy: Policy) -> None:
    """explain reports the deciding level and role."""
    roles = RoleSet.of(["auditor"], {ORG: ["organization-admin"]})
    e = policy.explain(roles, ME, "read", Obj("audit_log"))
    assert (e.allowed, e.level, e.roles) == (True, "site", ("auditor",))
    e = policy.explain(roles, ME, "update", Obj("template", org=ORG))
    assert (e.allowed, e.level, e.roles) == (True, "org", (f"organization-admin:{ORG}",))
    e = policy.explain(roles, ME, "update", Obj("license"))
    assert (e.allowed, e.level) == (False, "none")
    banned = RoleSet.of([], {ORG: ["organization-admin", "organization-workspace-creation-ban"]})
    e = policy.explain(banned, ME, "create", Obj("workspace", org=ORG))
    assert (e.allowed, e.level) == (False, "org")
    assert e.roles == (f"organization-workspace-creation-ban:{ORG}",)
