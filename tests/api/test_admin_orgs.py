"""Organizations and members: Coder's organizations_test.go (enterprise) and members_test.go
cases, ported to HTTP (each names its Go test), plus deletion and replica behaviour."""

from __future__ import annotations

import asyncio
import json
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


async def create_org(d: Deployment, name: str, **extra: str) -> dict[str, Any]:
    status, org = await d.owner.call("POST", ORGS, {"name": name, **extra})
    assert status == 201, org
    created: dict[str, Any] = org
    return created


# -- organizations ---------------------------------------------------------------------------


async def test_default_org_and_create(client: Client) -> None:
    """TestOrganizationsByUser/IsDefault and TestMultiOrgFetch: the first organization is the
    default one; a new one is not, and the creator is a member of both."""
    d = await first_user(client)
    status, orgs = await d.owner.call("GET", f"{USERS}/me/organizations")
    assert status == 200 and [o["is_default"] for o in orgs] == [True]
    for name in ("foo", "bar", "baz"):
        org = await create_org(d, name, display_name=name)
        assert org["is_default"] is False
    _, mine = await d.owner.call("GET", f"{USERS}/me/organizations")
    _, visible = await d.owner.call("GET", ORGS)
    assert len(mine) == 4
    assert sorted(o["id"] for o in mine) == sorted(o["id"] for o in visible)


async def test_create_org_rules(client: Client) -> None:
    """postOrganizations: display name defaults to the name; `default` is reserved; names are
    unique (case-insensitively) and valid; only owners create organizations."""
    d = await first_user(client)
    org = await create_org(d, "fresh")
    assert org["display_name"] == "fresh"
    assert await d.owner.call("POST", ORGS, {"name": "default"}) == (
        400,
        {"message": 'Organization name "default" is reserved.'},
    )
    assert await d.owner.call("POST", ORGS, {"name": "FRESH"}) == (
        409,
        {"message": "Organization already exists with that name."},
    )
    for name in ("not url safe", "new", "create", "x" * 33):
        status, body = await d.owner.call("POST", ORGS, {"name": name})
        assert status == 400 and body["message"] == "Validation failed.", name
    status, body = await d.owner.call("POST", ORGS, {"name": "ok", "display_name": " padded"})
    assert status == 400 and body["validations"][0]["field"] == "display_name"
    member = await another_user(d)
    assert await member.call("POST", ORGS, {"name": "mine"}) == (403, FORBIDDEN)


async def test_get_org_by_id_name_and_default(client: Client) -> None:
    """ExtractOrganizationParam: an id, a name or `default`; a member of another organization
    gets 404 (TestOrganizationsByUser/NoMember)."""
    d = await first_user(client)
    other = await create_org(d, "another", display_name="Another")
    for ref in (d.org, "coder", "default", "00000000-0000-0000-0000-000000000000"):
        status, org = await d.owner.call("GET", f"{ORGS}/{ref}")
        assert status == 200 and org["id"] == d.org, ref
    assert (await d.owner.call("GET", f"{ORGS}/ANOTHER"))[1]["id"] == other["id"]
    member = await another_user(d)
    assert await member.call("GET", f"{ORGS}/{other['id']}") == (404, NOT_FOUND)
    assert await member.call("GET", f"{USERS}/me/organizations/another") == (404, NOT_FOUND)
    assert (await member.call("GET", f"{USERS}/me/organizations/coder"))[0] == 200
    assert await d.owner.call("GET", f"{ORGS}/{uuid.uuid4()}") == (404, NOT_FOUND)


async def test_patch_organization(client: Client) -> None:
    """TestPatchOrganizationsByUser: Conflict, ReservedName, InvalidName, UpdateById,
    UpdateByName, UpdateDisplayName, UpdateDescription, UpdateIcon."""
    d = await first_user(client)
    org = await create_org(d, "new-org", display_name="New Organization", icon="/emojis/r.png")
    path = f"{ORGS}/{org['id']}"
    status, body = await d.owner.call("PATCH", path, {"name": "coder"})
    assert status == 409
    assert body == {
        "message": 'Organization already exists with the name "coder".',
        "validations": [
            {"field": "name", "detail": "This value is already in use and should be unique."}
        ],
    }
    assert (await d.owner.call("PATCH", path, {"name": "default"}))[0] == 400
    assert (await d.owner.call("PATCH", path, {"name": "something not url safe"}))[0] == 400
    status, updated = await d.owner.call("PATCH", f"{ORGS}/new-org", {"name": "new-new-org"})
    assert status == 200
    assert (updated["name"], updated["display_name"]) == ("new-new-org", "New Organization")
    assert (await d.owner.call("GET", f"{ORGS}/new-org"))[0] == 404  # the old name is free
    status, updated = await d.owner.call(
        "PATCH", f"{ORGS}/new-new-org", {"display_name": "The Newest One"}
    )
    assert (updated["name"], updated["display_name"]) == ("new-new-org", "The Newest One")
    status, updated = await d.owner.call(
        "PATCH", path, {"description": "so updated!", "icon": "/emojis/1f48f.png"}
    )
    assert (updated["description"], updated["icon"]) == ("so updated!", "/emojis/1f48f.png")
    assert updated["display_name"] == "The Newest One"
    status, updated = await d.owner.call("PATCH", path, {"description": ""})
    assert updated["description"] == "" and updated["icon"] == "/emojis/1f48f.png"


async def test_patch_needs_update(client: Client) -> None:
    """patchOrganization: a member may read its organization but not change it (404)."""
    d = await first_user(client)
    member = await another_user(d)
    assert await member.call("PATCH", f"{ORGS}/{d.org}", {"name": "mine"}) == (404, NOT_FOUND)


async def test_delete_organization(client: Client) -> None:
    """TestDeleteOrganizationsByUser: Default (400), DeleteById, DeleteByName; memberships
    go with the organization, on every replica at once."""
    d = await first_user(client)
    assert await d.owner.call("DELETE", f"{ORGS}/{d.org}") == (
        400,
        {"message": "Default organization cannot be deleted."},
    )
    a = await create_org(d, "by-id")
    b = await create_org(d, "by-name")
    assert await d.owner.call("DELETE", f"{ORGS}/{a['id']}") == (
        200,
        {"message": "Organization has been deleted."},
    )
    assert (await d.owner.call("DELETE", f"{ORGS}/by-name"))[0] == 200
    _, orgs = await d.owner.call("GET", ORGS)
    assert [o["id"] for o in orgs] == [d.org]
    _, me = await d.owner.call("GET", f"{USERS}/me")
    assert me["organization_ids"] == [d.org]
    assert b["id"] not in (await client.app[keys.USERS].get(d.owner.user_id)).orgs  # type: ignore[union-attr]


async def test_org_deletion_reaches_other_replicas(make_client: MakeClient) -> None:
    """An organization admin's rights end on a replica with a long session cache as soon as
    another replica deletes the organization."""
    first = await make_client(session_cache_ttl=300)
    second = await make_client(session_cache_ttl=300)
    d = await first_user(first)
    org = await create_org(d, "short-lived")
    admin = await another_user(d, org_roles=("organization-admin",), org=org["id"])
    on_second = Session(second, admin.token, admin.user_id, admin.username, admin.email)
    check = {
        "checks": {
            "x": {
                "object": {"resource_type": "template", "organization_id": org["id"]},
                "action": "update",
            }
        }
    }
    assert (await on_second.call("POST", "/api/v2/authcheck", check))[1] == {"x": True}
    assert (await d.owner.call("DELETE", f"{ORGS}/{org['id']}"))[0] == 200

    deadline = time.monotonic() + 5
    while (await on_second.call("POST", "/api/v2/authcheck", check))[1] != {"x": False}:
        assert time.monotonic() < deadline, "the other replica still grants the right"
        await asyncio.sleep(0.05)


# -- members ---------------------------------------------------------------------------------


async def test_add_member(client: Client) -> None:
    """TestAddMember/AlreadyMember and TestAddOrganizationMembers/OK."""
    d = await first_user(client)
    user = await another_user(d)
    status, body = await d.owner.call("POST", f"{ORGS}/{d.org}/members/{user.username}")
    assert status == 400 and "already an organization member" in body["message"]
    other = await create_org(d, "Other")
    status, member = await d.owner.call("POST", f"{ORGS}/{other['id']}/members/{user.username}")
    assert status == 200
    assert member["user_id"] == user.user_id and member["organization_id"] == other["id"]
    assert member["roles"] == []
    assert set(member) == {"user_id", "organization_id", "created_at", "updated_at", "roles"}
    _, members = await d.owner.call("GET", f"{ORGS}/{other['id']}/members")
    assert len(members) == 2
    status, body = await d.owner.call("POST", f"{ORGS}/{other['id']}/members/nobody")
    assert status == 400 and body["message"] == '"user" must be an existing uuid or username.'


async def test_get_member(client: Client) -> None:
    """TestGetMember/Me."""
    d = await first_user(client)
    status, member = await d.owner.call("GET", f"{ORGS}/{d.org}/members/me")
    assert status == 200 and member["user_id"] == d.owner.user_id
    assert member["username"] == "admin" and member["email"] == "admin@corp.example"
    assert member["global_roles"] == [{"name": "owner", "display_name": "Owner"}]


async def test_delete_member(client: Client) -> None:
    """TestDeleteMember/Allowed (from the default organization too); not yourself."""
    d = await first_user(client)
    user = await another_user(d)
    assert (await d.owner.call("DELETE", f"{ORGS}/{d.org}/members/{user.username}"))[0] == 204
    _, me = await user.call("GET", f"{USERS}/me")
    assert me["organization_ids"] == []
    assert await d.owner.call("DELETE", f"{ORGS}/{d.org}/members/{user.username}") == (
        404,
        NOT_FOUND,
    )
    assert await d.owner.call("DELETE", f"{ORGS}/{d.org}/members/me") == (
        400,
        {"message": "cannot remove self from an organization"},
    )


async def test_list_members(client: Client) -> None:
    """TestListMembers/OK and UserID; a member of another organization is not listed."""
    d = await first_user(client)
    member = await another_user(d)
    org_admin = await another_user(d, org_roles=("organization-admin",))
    other = await create_org(d, "another")
    outsider = await another_user(d, org=other["id"])
    await d.owner.call("DELETE", f"{ORGS}/{d.org}/members/{outsider.user_id}")
    _, members = await d.owner.call("GET", f"{ORGS}/{d.org}/members")
    assert sorted(m["user_id"] for m in members) == sorted(
        [d.owner.user_id, member.user_id, org_admin.user_id]
    )
    _, members = await d.owner.call("GET", f"{ORGS}/{d.org}/members?user_id={member.user_id}")
    assert [m["user_id"] for m in members] == [member.user_id]
    admin_row = next(
        m
        for m in (await d.owner.call("GET", f"{ORGS}/{d.org}/members"))[1]
        if m["user_id"] == org_admin.user_id
    )
    assert admin_row["roles"] == [
        {
            "name": "organization-admin",
            "display_name": "Organization Admin",
            "organization_id": d.org,
        }
    ]
    _, page = await d.owner.call("GET", f"{ORGS}/{d.org}/paginated-members?limit=2")
    assert page["count"] == 3 and len(page["members"]) == 2


async def test_member_roles(client: Client) -> None:
    """putMemberRoles: an org admin manages roles in its own organization only, cannot change
    its own, and unknown or site roles are refused with Coder's message."""
    d = await first_user(client)
    org_admin = await another_user(d, org_roles=("organization-admin",))
    target = await another_user(d)
    path = f"{ORGS}/{d.org}/members/{target.user_id}/roles"
    status, member = await org_admin.call("PUT", path, {"roles": ["organization-auditor"]})
    assert status == 200
    assert [r["name"] for r in member["roles"]] == ["organization-auditor"]
    for name in ("owner", "nope"):
        status, body = await org_admin.call("PUT", path, {"roles": [name]})
        assert (status, body) == (400, {"message": f'"{name}:{d.org}" is not a supported role'})
    own = f"{ORGS}/{d.org}/members/{org_admin.user_id}/roles"
    assert await org_admin.call("PUT", own, {"roles": []}) == (
        400,
        {"message": "You cannot change your own organization roles."},
    )
    other = await create_org(d, "elsewhere")
    await d.owner.call("POST", f"{ORGS}/{other['id']}/members/{target.user_id}")
    elsewhere = f"{ORGS}/{other['id']}/members/{target.user_id}/roles"
    assert (await org_admin.call("PUT", elsewhere, {"roles": ["organization-auditor"]}))[0] == 404
    user_admin = await another_user(d, org_roles=("organization-user-admin",))
    # An organization user admin may keep members, but not make admins.
    assert await user_admin.call("PUT", path, {"roles": ["organization-admin"]}) == (
        403,
        FORBIDDEN,
    )


async def test_assignable_org_roles(client: Client) -> None:
    """GET /organizations/{org}/members/roles: every org role but the implicit member role,
    with the organization id and whether the caller may assign it."""
    d = await first_user(client)
    user_admin = await another_user(d, org_roles=("organization-user-admin",))
    status, roles = await user_admin.call("GET", f"{ORGS}/{d.org}/members/roles")
    assert status == 200
    by_name = {r["name"]: r for r in roles}
    assert "organization-member" not in by_name
    assert by_name["organization-admin"]["assignable"] is False
    assert by_name["organization-admin"]["organization_id"] == d.org
    member = await another_user(d)
    other = await create_org(d, "other")
    assert await member.call("GET", f"{ORGS}/{other['id']}/members/roles") == (404, NOT_FOUND)


async def test_org_user_admin_stays_in_its_org(client: Client) -> None:
    """An organization user admin adds and removes members of its own organization only."""
    d = await first_user(client)
    admin = await another_user(d, org_roles=("organization-user-admin",))
    other = await create_org(d, "other")
    newcomer = await another_user(d, org=other["id"])
    assert (await admin.call("POST", f"{ORGS}/{d.org}/members/{newcomer.user_id}"))[0] == 200
    assert (await admin.call("DELETE", f"{ORGS}/{d.org}/members/{newcomer.user_id}"))[0] == 204
    assert await admin.call("POST", f"{ORGS}/{other['id']}/members/{admin.user_id}") == (
        404,
        NOT_FOUND,
    )


async def test_coder_typescript_client_calls(client: Client) -> None:
    """The requests Coder's site/src/api/api.ts makes (fetch: JSON body with Content-Type,
    query parameters from the options object, no body on POST/DELETE without one) get the
    types the client expects: getUsers, createUser, suspendUser, activateUser,
    updateUserRoles, updateProfile, updateUserPassword, deleteUser, getSiteRoles,
    createOrganization, getOrganizations, getOrganizationMembers,
    getOrganizationPaginatedMembers, addOrganizationMember, updateOrganizationMemberRoles,
    getOrganizationRoles, removeOrganizationMember, deleteOrganization."""
    d = await first_user(client)
    headers = {"Coder-Session-Token": d.owner.token}

    async def request(method: str, url: str, body: Any = None, **params: Any) -> Any:
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"]["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in params.items() if v is not None and v != ""}
        resp = await client.request(method, url, params=query, **kwargs)
        assert resp.ok, (method, url, resp.status, await resp.text())
        if resp.status == 204 or method == "DELETE":
            return None
        return await resp.json()

    page = await request("GET", USERS, q="status:active", limit=25, offset=0)
    assert page["count"] == 1 and page["users"][0]["username"] == "admin"
    user = await request(
        "POST",
        USERS,
        {
            "email": "ts@corp.example",
            "username": "ts-user",
            "name": "",
            "password": "SomeSecurePassword!",
            "login_type": "password",
            "organization_ids": [d.org],
        },
    )
    assert user["status"] == "dormant"
    assert (await request("PUT", f"{USERS}/{user['id']}/status/suspend"))["status"] == "suspended"
    assert (await request("PUT", f"{USERS}/{user['id']}/status/activate"))["status"] == "active"
    updated = await request("PUT", f"{USERS}/{user['id']}/roles", {"roles": ["auditor"]})
    assert [r["name"] for r in updated["roles"]] == ["auditor"]
    profile = await request(
        "PUT", f"{USERS}/{user['id']}/profile", {"username": "ts-user2", "name": "TS"}
    )
    assert profile["username"] == "ts-user2"
    await request(
        "PUT", f"{USERS}/{user['id']}/password", {"password": "Another-Secure-Password-1"}
    )
    assert {r["name"] for r in await request("GET", f"{USERS}/roles")} >= {"owner", "auditor"}
    org = await request("POST", ORGS, {"name": "ts-org", "display_name": "TS", "icon": ""})
    assert org["id"] in {o["id"] for o in await request("GET", ORGS)}
    member = await request("POST", f"{ORGS}/{org['id']}/members/{user['id']}")
    assert member["user_id"] == user["id"]
    roles = await request(
        "PUT", f"{ORGS}/{org['id']}/members/{user['id']}/roles", {"roles": ["organization-admin"]}
    )
    assert [r["name"] for r in roles["roles"]] == ["organization-admin"]
    members = await request("GET", f"{ORGS}/{org['id']}/members")
    assert {m["username"] for m in members} == {"admin", "ts-user2"}
    paged = await request("GET", f"{ORGS}/{org['id']}/paginated-members", limit=1, offset=0)
    assert paged["count"] == 2 and len(paged["members"]) == 1
    assert any(r["assignable"] for r in await request("GET", f"{ORGS}/{org['id']}/members/roles"))
    assert await request("DELETE", f"{ORGS}/{org['id']}/members/{user['id']}") is None
    assert await request("DELETE", f"{ORGS}/{org['id']}") is None
    assert await request("DELETE", f"{USERS}/{user['id']}") is None


async def test_every_change_is_audited(client: Client) -> None:
    """Organization and membership changes leave an audit record naming the actor, the
    target and what changed."""
    d = await first_user(client)
    user = await another_user(d)
    org = await create_org(d, "audited")
    await d.owner.call("PATCH", f"{ORGS}/{org['id']}", {"display_name": "Audited Org"})
    await d.owner.call("POST", f"{ORGS}/{org['id']}/members/{user.user_id}")
    await d.owner.call(
        "PUT",
        f"{ORGS}/{org['id']}/members/{user.user_id}/roles",
        {"roles": ["organization-auditor"]},
    )
    await d.owner.call("DELETE", f"{ORGS}/{org['id']}/members/{user.user_id}")
    await d.owner.call("DELETE", f"{ORGS}/{org['id']}")
    events = {e["event"]: e for e in await client.app[keys.AUDIT].tail(100)}
    for name in (
        "organization_created",
        "organization_updated",
        "member_added",
        "member_roles_changed",
        "member_removed",
        "organization_deleted",
    ):
        assert events[name]["actor"] == d.owner.user_id, name
        assert events[name]["organization_id"] == org["id"], name
        assert events[name]["ip"] and events[name]["request_id"], name
    assert json.loads(events["organization_updated"]["changes"]) == {
        "display_name": ["audited", "Audited Org"]
    }
    assert json.loads(events["member_roles_changed"]["changes"]) == {
        "roles": [[], ["organization-auditor"]]
    }
    assert events["member_added"]["user_id"] == user.user_id


async def test_suspension_reaches_other_replicas(make_client: MakeClient) -> None:
    """A user suspended through one replica is refused at once by another replica that has
    its session cached for five minutes."""
    first = await make_client(session_cache_ttl=300)
    second = await make_client(session_cache_ttl=300)
    d = await first_user(first)
    member = await another_user(d)
    on_second = Session(second, member.token, member.user_id, member.username, member.email)
    assert (await on_second.call("GET", f"{USERS}/me"))[0] == 200  # cached on the second
    assert (await d.owner.call("PUT", f"{USERS}/{member.user_id}/status/suspend"))[0] == 200
    deadline = time.monotonic() + 5
    while (await on_second.call("GET", f"{USERS}/me"))[0] != 401:
        assert time.monotonic() < deadline, "the other replica still accepts the session"
        await asyncio.sleep(0.05)
