"""Resource checks over registered objects, groups and ACLs (spec §7.4 acl_allow, §7.5):
Coder's TestCheckPermissions cases with `resource_id`, the object registry, the groups API,
and their evaluation across replicas."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from service import keys
from tests.api.admin_support import (
    FORBIDDEN,
    NOT_FOUND,
    ORGS,
    USERS,
    Deployment,
    Session,
    another_user,
    first_user,
)
from tests.conftest import Client, MakeClient

OBJECTS = "/api/v2/authz/objects"


def check(kind: str, ident: str, action: str) -> dict[str, Any]:
    return {"object": {"resource_type": kind, "resource_id": ident}, "action": action}


async def ask(s: Session, checks: dict[str, Any]) -> dict[str, bool]:
    status, answers = await s.call("POST", "/api/v2/authcheck", {"checks": checks})
    assert status == 200, answers
    return dict(answers)


async def register(d: Deployment, kind: str, ident: str, **body: Any) -> dict[str, Any]:
    body.setdefault("organization_id", d.org)
    status, record = await d.owner.call("PUT", f"{OBJECTS}/{kind}/{ident}", body)
    assert status in (200, 201), record
    return dict(record)


async def test_check_permissions_specific_template(client: Client) -> None:
    """TestCheckPermissions (coderd/authorize_test.go), `update-specific-template`: once the
    template is registered, the owner and the organization admin may update it and a member
    may not; before, every answer is false (an unknown object)."""
    d = await first_user(client)
    org_admin = await another_user(d, org_roles=("organization-admin",))
    member = await another_user(d)
    template = str(uuid.uuid4())
    q = {"update-specific-template": check("template", template, "update")}
    for who in (d.owner, org_admin, member):
        assert await ask(who, q) == {"update-specific-template": False}
    await register(d, "template", template)
    assert await ask(d.owner, q) == {"update-specific-template": True}
    assert await ask(org_admin, q) == {"update-specific-template": True}
    assert await ask(member, q) == {"update-specific-template": False}


async def test_everyone_group_acl(client: Client) -> None:
    """A template shared with the Everyone group (`use`) is readable and usable by every
    organization member, but not updatable; a member of another organization gets nothing."""
    d = await first_user(client)
    member = await another_user(d)
    status, other_org = await d.owner.call("POST", ORGS, {"name": "elsewhere"})
    assert status == 201
    outsider = await another_user(d, org=other_org["id"])
    template = str(uuid.uuid4())
    await register(d, "template", template, acl={"groups": {d.org: "use"}})
    q = {a: check("template", template, a) for a in ("read", "use", "update")}
    assert await ask(member, q) == {"read": True, "use": True, "update": False}
    assert await ask(outsider, q) == {"read": False, "use": False, "update": False}


async def test_user_acl_grant(client: Client) -> None:
    """A user ACL entry grants exactly its actions to that user; an `admin` role grants all."""
    d = await first_user(client)
    alice = await another_user(d)
    bob = await another_user(d)
    workspace = str(uuid.uuid4())
    await register(
        d, "workspace", workspace, owner_id=d.owner.user_id,
        acl={"users": {alice.user_id: ["read", "ssh"], bob.user_id: "admin"}},
    )  # fmt: skip
    q = {a: check("workspace", workspace, a) for a in ("read", "ssh", "update", "delete")}
    assert await ask(alice, q) == {"read": True, "ssh": True, "update": False, "delete": False}
    # Coder's workspace admin role: everything but delete.
    assert await ask(bob, q) == {"read": True, "ssh": True, "update": True, "delete": False}


async def test_group_acl_lost_when_leaving_the_group_on_every_replica(
    make_client: MakeClient,
) -> None:
    """A group ACL grant holds while the user is in the group; removing them through one
    replica ends it on another replica that had the answer cached."""
    first = await make_client(session_cache_ttl=300)
    second = await make_client(session_cache_ttl=300)
    d = await first_user(first)
    member = await another_user(d)
    status, group = await d.owner.call("POST", f"{ORGS}/{d.org}/groups", {"name": "builders"})
    assert status == 201, group
    status, group = await d.owner.call(
        "PATCH", f"/api/v2/groups/{group['id']}", {"add_users": [member.user_id]}
    )
    assert status == 200 and [m["id"] for m in group["members"]] == [member.user_id]
    template = str(uuid.uuid4())
    await register(d, "template", template, acl={"groups": {group["id"]: "admin"}})
    on_first = member
    on_second = Session(second, member.token, member.user_id, member.username, member.email)
    q = {"u": check("template", template, "update")}
    assert await ask(on_first, q) == {"u": True}
    assert await ask(on_second, q) == {"u": True}  # cached on the second replica now
    status, _ = await d.owner.call(
        "PATCH", f"/api/v2/groups/{group['id']}", {"remove_users": [member.user_id]}
    )
    assert status == 200
    assert await ask(on_first, q) == {"u": False}
    deadline = time.monotonic() + 5
    while await ask(on_second, q) != {"u": False}:
        assert time.monotonic() < deadline, "the other replica still grants the group's ACL"
        await asyncio.sleep(0.05)


async def test_registry_write_refused_to_a_member(client: Client) -> None:
    """A member may not register, change or delete a template (it needs template:create /
    update / delete in the organization); what it may not read is not found."""
    d = await first_user(client)
    member = await another_user(d)
    template = str(uuid.uuid4())
    body = {"organization_id": d.org, "acl": {"users": {member.user_id: "admin"}}}
    assert await member.call("PUT", f"{OBJECTS}/template/{template}", body) == (403, FORBIDDEN)
    await register(d, "template", template)
    assert await member.call("PUT", f"{OBJECTS}/template/{template}", body) == (403, FORBIDDEN)
    assert await member.call("GET", f"{OBJECTS}/template/{template}") == (404, NOT_FOUND)
    assert await member.call("DELETE", f"{OBJECTS}/template/{template}") == (404, NOT_FOUND)
    status, record = await d.owner.call("GET", f"{OBJECTS}/template/{template}")
    assert (status, record["acl"]) == (200, {"users": {}, "groups": {}})


async def test_ten_resource_checks_cost_one_round_trip(client: Client) -> None:
    """Ten resource checks in one request are answered from one fetch (one pipelined round
    trip to Redis, the caller's groups included); the same request again hits the cache."""
    d = await first_user(client)
    ids = [str(uuid.uuid4()) for _ in range(10)]
    for i in ids[:5]:
        await register(d, "template", i)
    resolver = client.app[keys.RESOLVER]
    before = resolver.round_trips
    q = {f"c{n}": check("template", i, "update") for n, i in enumerate(ids)}
    answers = await ask(d.owner, q)
    assert resolver.round_trips - before == 1
    assert answers == {f"c{n}": n < 5 for n in range(10)}
    assert await ask(d.owner, q) == answers
    assert resolver.round_trips - before == 1


async def test_registry_validation(client: Client) -> None:
    """Only templates and workspaces are registered, by UUID, in an existing organization,
    with ACL actions the type has and Coder's ACL role names."""
    d = await first_user(client)
    some = str(uuid.uuid4())
    cases: list[tuple[str, dict[str, Any], str]] = [
        (f"user/{some}", {"organization_id": d.org}, 'objects of type "user" cannot be registered'),
        ("template/nope", {"organization_id": d.org}, '"nope" is not a valid UUID'),
        (f"template/{some}", {}, '"organization_id" is required'),
        (f"template/{some}", {"organization_id": some}, "no organization has the id"),
        (
            f"template/{some}",
            {"organization_id": d.org, "acl": {"users": {some: ["fly"]}}},
            'template has no action "fly"',
        ),
        (
            f"template/{some}",
            {"organization_id": d.org, "acl": {"groups": {some: "owner"}}},
            '"owner" is not a template role',
        ),
    ]
    for path, body, detail in cases:
        status, answer = await d.owner.call("PUT", f"{OBJECTS}/{path}", body)
        assert status == 400 and detail in answer["detail"], (path, answer)


async def test_batch_is_all_or_nothing(client: Client) -> None:
    """POST /authz/objects registers a list in order; one bad entry refuses the whole batch
    and names it."""
    d = await first_user(client)
    good = [
        {"resource_type": "template", "resource_id": str(uuid.uuid4()), "organization_id": d.org}
        for _ in range(3)
    ]
    bad = [*good, {"resource_type": "template", "resource_id": "x", "organization_id": d.org}]
    status, answer = await d.owner.call("POST", OBJECTS, {"objects": bad})
    assert status == 400 and answer["detail"].startswith("objects[3]: ")
    for item in good:
        status, _ = await d.owner.call("GET", f"{OBJECTS}/template/{item['resource_id']}")
        assert status == 404
    status, answer = await d.owner.call("POST", OBJECTS, {"objects": good})
    assert status == 200 and len(answer["objects"]) == 3


async def test_groups_api(client: Client) -> None:
    """Coder's groups API: Everyone listed first with every member, reserved name, unique
    names, members must belong to the organization, Everyone cannot change or go."""
    d = await first_user(client)
    member = await another_user(d)
    status, everyone = await d.owner.call("GET", f"/api/v2/groups/{d.org}")
    assert status == 200 and everyone["name"] == "Everyone"
    assert sorted(m["id"] for m in everyone["members"]) == sorted([d.owner.user_id, member.user_id])
    status, body = await d.owner.call("POST", f"{ORGS}/{d.org}/groups", {"name": "Everyone"})
    assert (status, body["message"]) == (400, "Invalid group name.")
    status, group = await d.owner.call("POST", f"{ORGS}/{d.org}/groups", {"name": "ops"})
    assert status == 201 and group["members"] == [] and group["organization_id"] == d.org
    status, body = await d.owner.call("POST", f"{ORGS}/{d.org}/groups", {"name": "ops"})
    assert (status, body["message"]) == (409, 'A group named "ops" already exists.')
    status, groups = await d.owner.call("GET", f"{ORGS}/{d.org}/groups")
    assert [g["name"] for g in groups] == ["Everyone", "ops"]
    status, body = await d.owner.call(
        "PATCH", f"/api/v2/groups/{d.org}", {"add_users": [member.user_id]}
    )
    assert (status, body["message"]) == (
        403,
        'Cannot add or remove users from the "Everyone" group!',
    )
    status, body = await d.owner.call("DELETE", f"/api/v2/groups/{d.org}")
    assert (status, body["message"]) == (
        400,
        '"Everyone" is a reserved group and cannot be deleted!',
    )
    status, body = await d.owner.call(
        "PATCH", f"/api/v2/groups/{group['id']}", {"add_users": [str(uuid.uuid4())]}
    )
    assert status == 400 and body["message"].startswith("User must be a member of organization")
    assert await member.call("PATCH", f"/api/v2/groups/{group['id']}", {"name": "x"}) == (
        404,
        NOT_FOUND,
    )
    status, body = await d.owner.call("DELETE", f"/api/v2/groups/{group['id']}")
    assert (status, body) == (200, {"message": "Successfully deleted group!"})
    assert (await d.owner.call("GET", f"/api/v2/groups/{group['id']}"))[0] == 404


async def test_deleting_a_user_and_an_org_cascades(client: Client) -> None:
    """Deleting a user removes them from groups and ACLs; deleting an organization deletes
    its groups and registered objects."""
    d = await first_user(client)
    status, org = await d.owner.call("POST", ORGS, {"name": "doomed"})
    member = await another_user(d, org=org["id"])
    status, group = await d.owner.call("POST", f"{ORGS}/{org['id']}/groups", {"name": "g"})
    await d.owner.call("PATCH", f"/api/v2/groups/{group['id']}", {"add_users": [member.user_id]})
    template = str(uuid.uuid4())
    status, _ = await d.owner.call(
        "PUT",
        f"{OBJECTS}/template/{template}",
        {"organization_id": org["id"], "acl": {"users": {member.user_id: "use"}}},
    )
    assert status == 201
    assert (await d.owner.call("DELETE", f"{USERS}/{member.user_id}"))[0] == 200
    status, record = await d.owner.call("GET", f"{OBJECTS}/template/{template}")
    assert record["acl"]["users"] == {}
    status, g = await d.owner.call("GET", f"/api/v2/groups/{group['id']}")
    assert g["members"] == []
    assert (await d.owner.call("DELETE", f"{ORGS}/{org['id']}"))[0] == 200
    assert (await d.owner.call("GET", f"{OBJECTS}/template/{template}"))[0] == 404
    assert (await d.owner.call("GET", f"/api/v2/groups/{group['id']}"))[0] == 404


async def test_organization_admin_stays_in_its_organization(client: Client) -> None:
    """An organization admin registers templates and manages groups in its own organization
    only; in another it can neither register, change groups nor read them."""
    d = await first_user(client)
    status, other = await d.owner.call("POST", ORGS, {"name": "other"})
    assert status == 201
    admin = await another_user(d, org_roles=("organization-admin",))
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    status, _ = await admin.call("PUT", f"{OBJECTS}/template/{mine}", {"organization_id": d.org})
    assert status == 201
    assert await admin.call(
        "PUT", f"{OBJECTS}/template/{theirs}", {"organization_id": other["id"]}
    ) == (403, FORBIDDEN)
    # Moving its own template into the other organization is creating one there: refused.
    assert await admin.call(
        "PUT", f"{OBJECTS}/template/{mine}", {"organization_id": other["id"]}
    ) == (403, FORBIDDEN)
    status, group = await d.owner.call("POST", f"{ORGS}/{other['id']}/groups", {"name": "theirs"})
    assert status == 201
    assert await admin.call("GET", f"/api/v2/groups/{group['id']}") == (404, NOT_FOUND)
    assert await admin.call(
        "PATCH", f"/api/v2/groups/{group['id']}", {"add_users": [admin.user_id]}
    ) == (404, NOT_FOUND)
    assert (await admin.call("POST", f"{ORGS}/{d.org}/groups", {"name": "mine"}))[0] == 201
