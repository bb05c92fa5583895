"""The permission matrix: each built-in role against each administration endpoint.

Every cell is one request by a holder of the role (site roles deployment-wide, organization
roles in the default organization) on a fresh target, and the status it must get. The
expectations follow from config/roles.yaml as Coder's routes check it: a user the caller may
not read does not exist for it (400), a readable one it may not change is 403 (404 for the
password and role reads, as in Coder), organizations it may not read are 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.api.admin_support import ORGS, USERS, Deployment, Session, another_user, first_user
from tests.conftest import Client
from tests.support import STRONG

SITE = ("owner", "member", "auditor", "template-admin", "user-admin")
ORG = (
    "organization-admin",
    "organization-user-admin",
    "organization-auditor",
    "organization-template-admin",
)
ROLES = SITE + ORG


@dataclass
class Cell:
    """One endpoint: how to call it on a fresh target, and the status per role."""

    name: str
    call: Callable[[Deployment, Session, Session], Awaitable[int | str]]
    expected: dict[str, int | str]


def statuses(default: int | str, **overrides: int | str) -> dict[str, int | str]:
    """The expected outcome per role: `default`, except the roles named (with _ for -)."""
    return {role: overrides.get(role.replace("-", "_"), default) for role in ROLES}


async def _status(session: Session, method: str, path: str, body: object = None) -> int:
    return (await session.call(method, path, body))[0]


async def _sees_victim(d: Deployment, actor: Session, victim: Session) -> int | str:
    _, page = await actor.call("GET", USERS)
    return "sees" if victim.user_id in {u["id"] for u in page["users"]} else "hidden"


async def _sees_member(d: Deployment, actor: Session, victim: Session) -> int | str:
    _, members = await actor.call("GET", f"{ORGS}/{d.org}/members")
    return "sees" if victim.user_id in {m["user_id"] for m in members} else "hidden"


async def _create(d: Deployment, actor: Session, victim: Session) -> int | str:
    body = {
        "email": f"new-{victim.username}@corp.example",
        "username": f"new-{victim.username}",
        "password": STRONG,
        "organization_ids": [d.org],
    }
    return await _status(actor, "POST", USERS, body)


async def _add_member(d: Deployment, actor: Session, victim: Session) -> int | str:
    # The victim is taken out of the default organization first, by the owner.
    assert await _status(d.owner, "DELETE", f"{ORGS}/{d.org}/members/{victim.user_id}") == 204
    return await _status(actor, "POST", f"{ORGS}/{d.org}/members/{victim.user_id}")


async def _create_org(d: Deployment, actor: Session, victim: Session) -> int | str:
    return await _status(actor, "POST", ORGS, {"name": f"org-{victim.username}"})


async def _delete_org(d: Deployment, actor: Session, victim: Session) -> int | str:
    status, org = await d.owner.call("POST", ORGS, {"name": f"gone-{victim.username}"})
    assert status == 201
    return await _status(actor, "DELETE", f"{ORGS}/{org['id']}")


def on_victim(method: str, suffix: str, body: object = None) -> Callable[..., Awaitable[int]]:
    async def call(d: Deployment, actor: Session, victim: Session) -> int:
        return await _status(actor, method, f"{USERS}/{victim.user_id}{suffix}", body)

    return call


def on_member(method: str, suffix: str, body: object = None) -> Callable[..., Awaitable[int]]:
    async def call(d: Deployment, actor: Session, victim: Session) -> int:
        return await _status(
            actor, method, f"{ORGS}/{d.org}/members/{victim.user_id}{suffix}", body
        )

    return call


def on_org(method: str, suffix: str, body: object = None) -> Callable[..., Awaitable[int]]:
    async def call(d: Deployment, actor: Session, victim: Session) -> int:
        return await _status(actor, method, f"{ORGS}/{d.org}{suffix}", body)

    return call


# Who may read other users: site user:read (owner, auditor, template-admin, user-admin, and
# the organization user admin's site grant).
READERS = {"owner": 0, "auditor": 0, "template_admin": 0, "user_admin": 0}
READER_ORG = {"organization_user_admin": 0}


def readers(allowed: int | str, denied: int, **others: int | str) -> dict[str, int | str]:
    """`allowed` for owner and user admin, `denied` for the other readers, 400 for the rest."""
    table: dict[str, int | str] = {
        **dict.fromkeys(READERS, denied),
        **dict.fromkeys(READER_ORG, denied),
        "owner": allowed,
        "user_admin": allowed,
        **others,
    }
    return statuses(400, **table)


async def _group(d: Deployment, actor: Session, victim: Session) -> int | str:
    body = {"name": f"g-{victim.username}"}
    return await _status(actor, "POST", f"{ORGS}/{d.org}/groups", body)


async def _read_group(d: Deployment, actor: Session, victim: Session) -> int | str:
    status, group = await d.owner.call("POST", f"{ORGS}/{d.org}/groups", {"name": "owned"})
    assert status == 201
    return await _status(actor, "GET", f"/api/v2/groups/{group['id']}")


async def _register(d: Deployment, actor: Session, victim: Session) -> int | str:
    path = f"/api/v2/authz/objects/template/{uuid.uuid4()}"
    return await _status(actor, "PUT", path, {"organization_id": d.org})


async def _read_object(d: Deployment, actor: Session, victim: Session) -> int | str:
    path = f"/api/v2/authz/objects/template/{uuid.uuid4()}"
    assert await _status(d.owner, "PUT", path, {"organization_id": d.org}) == 201
    return await _status(actor, "GET", path)


# Tokens, groups and registered objects (API tokens, spec 7.4 ACLs): who holds api_key,
# group and template permissions on someone else's objects, per roles.yaml.
EXTENDED = [
    # Another user's token: the user must be readable, and only the owner holds api_key
    # beyond its own.
    Cell(
        "POST /users/{user}/keys/tokens",
        on_victim("POST", "/keys/tokens", {"token_name": "t"}),
        readers(201, 403, user_admin=403),
    ),
    Cell(
        "GET /users/{user}/keys/tokens",
        on_victim("GET", "/keys/tokens"),
        statuses(400, **dict.fromkeys([*READERS, *READER_ORG], 200)),
    ),
    # group:create in the organization: site owner and user admin, organization admin and
    # organization user admin.
    Cell(
        "POST /organizations/{org}/groups",
        _group,
        statuses(
            403, owner=201, user_admin=201, organization_admin=201, organization_user_admin=201
        ),
    ),
    # group:read: every role with a group grant; a plain member of no group reads none.
    Cell("GET /groups/{group}", _read_group, statuses(200, member=404)),
    # template:create in the organization.
    Cell(
        "PUT /authz/objects/template/{id}",
        _register,
        statuses(
            403,
            owner=201,
            template_admin=201,
            organization_admin=201,
            organization_template_admin=201,
        ),
    ),
    # template:read in the organization (else not found).
    Cell(
        "GET /authz/objects/template/{id}",
        _read_object,
        statuses(200, member=404, user_admin=404, organization_user_admin=404),
    ),
]

MATRIX = [
    Cell(
        "GET /users",
        _sees_victim,
        statuses("hidden", **dict.fromkeys([*READERS, *READER_ORG], "sees")),
    ),
    Cell(
        "GET /users/{user}",
        on_victim("GET", ""),
        statuses(400, **dict.fromkeys([*READERS, *READER_ORG], 200)),
    ),
    Cell(
        "GET /users/{user}/organizations",
        on_victim("GET", "/organizations"),
        statuses(400, **dict.fromkeys([*READERS, *READER_ORG], 200)),
    ),
    Cell("POST /users", _create, statuses(403, owner=201, user_admin=201)),
    Cell(
        "PUT /users/{user}/profile",
        on_victim("PUT", "/profile", {"username": "renamed"}),
        readers(200, 403),
    ),
    Cell(
        "PUT /users/{user}/status/suspend", on_victim("PUT", "/status/suspend"), readers(200, 403)
    ),
    Cell(
        "PUT /users/{user}/status/activate", on_victim("PUT", "/status/activate"), readers(200, 403)
    ),
    Cell(
        "PUT /users/{user}/password",
        on_victim("PUT", "/password", {"password": "Another-Secure-Password-1"}),
        readers(204, 404),
    ),
    Cell("GET /users/{user}/roles", on_victim("GET", "/roles"), readers(200, 404)),
    Cell(
        "PUT /users/{user}/roles (auditor)",
        on_victim("PUT", "/roles", {"roles": ["auditor"]}),
        readers(403, 403, owner=200),
    ),
    Cell("DELETE /users/{user}", on_victim("DELETE", ""), readers(200, 403)),
    Cell("GET /users/roles", lambda d, a, v: _status(a, "GET", f"{USERS}/roles"), statuses(200)),
    Cell("GET /organizations", lambda d, a, v: _status(a, "GET", ORGS), statuses(200)),
    Cell("GET /organizations/{org}", on_org("GET", ""), statuses(200)),
    Cell("POST /organizations", _create_org, statuses(403, owner=201)),
    Cell(
        "PATCH /organizations/{org}",
        on_org("PATCH", "", {"description": "changed"}),
        statuses(404, owner=200, organization_admin=200),
    ),
    Cell("DELETE /organizations/{org}", _delete_org, statuses(404, owner=200)),
    Cell(
        "GET /organizations/{org}/members",
        _sees_member,
        statuses("sees", member="hidden"),
    ),
    Cell("GET /organizations/{org}/members/roles", on_org("GET", "/members/roles"), statuses(200)),
    Cell(
        "POST /organizations/{org}/members/{user}",
        _add_member,
        statuses(
            404,
            owner=200,
            user_admin=200,
            organization_admin=200,
            organization_user_admin=200,
        ),
    ),
    Cell(
        "DELETE /organizations/{org}/members/{user}",
        on_member("DELETE", ""),
        statuses(
            404,
            owner=204,
            user_admin=204,
            organization_admin=204,
            organization_user_admin=204,
        ),
    ),
    Cell(
        "PUT /organizations/{org}/members/{user}/roles (organization-auditor)",
        on_member("PUT", "/roles", {"roles": ["organization-auditor"]}),
        statuses(403, owner=200, organization_admin=200),
    ),
    *EXTENDED,
]


@pytest.mark.parametrize("role", ROLES)
async def test_permission_matrix(client: Client, role: str) -> None:
    """Each endpoint answers a holder of `role` as the matrix says (all cells checked, then
    the mismatches reported together)."""
    d = await first_user(client)
    actor = (
        await another_user(d, role) if role in SITE else await another_user(d, org_roles=(role,))
    )
    mismatches = []
    for cell in MATRIX:
        victim = await another_user(d)
        got = await cell.call(d, actor, victim)
        if got != cell.expected[role]:
            mismatches.append((cell.name, cell.expected[role], got))
    assert mismatches == []


def test_matrix_covers_every_role_and_endpoint() -> None:
    """Every cell names an outcome for every built-in role, and every route is in it."""
    assert all(set(cell.expected) == set(ROLES) for cell in MATRIX)
    assert len({cell.name for cell in MATRIX}) == len(MATRIX) == 28
