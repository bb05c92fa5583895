"""Attacks on the administration API: enumeration, escalation, cross-organization reach and
cross-origin use. Each test names the attack and asserts that it gets nothing."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.admin_support import (
    FORBIDDEN,
    NOT_FOUND,
    ORGS,
    USERS,
    another_user,
    first_user,
)
from tests.conftest import Client


async def test_member_cannot_tell_which_usernames_exist(client: Client) -> None:
    """A plain member probing user paths gets the same answer for a real username as for an
    invented one, on every route that takes `{user}`."""
    d = await first_user(client)
    member = await another_user(d)
    victim = await another_user(d)
    probes = [
        ("GET", f"{USERS}/{{}}"),
        ("DELETE", f"{USERS}/{{}}"),
        ("PUT", f"{USERS}/{{}}/status/suspend"),
        ("GET", f"{USERS}/{{}}/roles"),
        ("GET", f"{ORGS}/{d.org}/members/{{}}"),
        ("POST", f"{ORGS}/{d.org}/members/{{}}"),
        ("DELETE", f"{ORGS}/{d.org}/members/{{}}"),
        ("PUT", f"{ORGS}/{d.org}/members/{{}}/roles"),
    ]

    def strip(body: Any) -> Any:
        return {k: v for k, v in (body or {}).items() if k != "detail"}

    for method, template in probes:
        body: Any = {"roles": []} if template.endswith("/roles") and method == "PUT" else None
        real = await member.call(method, template.format(victim.username), body)
        fake = await member.call(method, template.format("nobody-here"), body)
        real_id = await member.call(method, template.format(victim.user_id), body)
        fake_id = await member.call(method, template.format(uuid.uuid4()), body)
        assert real[0] == fake[0] == real_id[0] == fake_id[0], (method, template, real, fake)
        assert strip(real[1]) == strip(fake[1]), (method, template)


async def test_no_self_escalation(client: Client) -> None:
    """Nobody changes their own roles, site or organization, whatever they hold."""
    d = await first_user(client)
    user_admin = await another_user(d, "user-admin")
    org_admin = await another_user(d, org_roles=("organization-admin",))
    status, body = await user_admin.call("PUT", f"{USERS}/me/roles", {"roles": ["owner"]})
    assert (status, body) == (400, {"message": "You cannot change your own roles."})
    status, body = await org_admin.call(
        "PUT", f"{ORGS}/{d.org}/members/me/roles", {"roles": ["organization-admin"]}
    )
    assert (status, body) == (400, {"message": "You cannot change your own organization roles."})


async def test_user_admin_cannot_mint_an_owner(client: Client) -> None:
    """A user admin can create users but not make them (or anyone) owners, neither when
    creating nor afterwards, and cannot hand out user-admin either."""
    d = await first_user(client)
    admin = await another_user(d, "user-admin")
    status, user = await admin.call(
        "POST",
        USERS,
        {
            "email": "minted@corp.example",
            "username": "minted",
            "password": "SomeSecurePassword!",
            "organization_ids": [d.org],
        },
    )
    assert status == 201
    for roles in (["owner"], ["user-admin"], ["owner", "auditor"]):
        assert await admin.call("PUT", f"{USERS}/{user['id']}/roles", {"roles": roles}) == (
            403,
            FORBIDDEN,
        )
    _, roles = await d.owner.call("GET", f"{USERS}/{user['id']}/roles")
    assert roles["roles"] == []


async def test_org_admin_cannot_reach_another_organization(client: Client) -> None:
    """An organization admin sees, changes and joins nothing in an organization it is not
    in, and cannot pull users into it."""
    d = await first_user(client)
    org_admin = await another_user(d, org_roles=("organization-admin",))
    _, other = await d.owner.call("POST", ORGS, {"name": "elsewhere"})
    target = await another_user(d, org=other["id"])
    base = f"{ORGS}/{other['id']}"
    assert await org_admin.call("GET", base) == (404, NOT_FOUND)
    assert await org_admin.call("PATCH", base, {"name": "mine"}) == (404, NOT_FOUND)
    assert await org_admin.call("DELETE", base) == (404, NOT_FOUND)
    assert await org_admin.call("POST", f"{base}/members/{org_admin.user_id}") == (
        404,
        NOT_FOUND,
    )
    assert await org_admin.call("DELETE", f"{base}/members/{target.user_id}") == (
        404,
        NOT_FOUND,
    )
    status, _ = await org_admin.call(
        "PUT", f"{base}/members/{target.user_id}/roles", {"roles": ["organization-admin"]}
    )
    assert status == 404
    _, members = await d.owner.call("GET", f"{base}/members")
    assert {m["user_id"] for m in members} == {d.owner.user_id, target.user_id}


async def test_cross_origin_admin_requests_are_refused(client: Client) -> None:
    """A page on another origin cannot use an owner's browser session to create users or
    change roles (the cross-origin guard answers 403 before anything is done)."""
    d = await first_user(client)
    resp = await client.post(
        USERS,
        json={
            "email": "csrf@corp.example",
            "username": "csrf",
            "password": "SomeSecurePassword!",
            "organization_ids": [d.org],
        },
        headers={
            "Cookie": f"coder_session_token={d.owner.token}",
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
        },
    )
    assert resp.status == 403
    assert (await resp.json())["message"] == "Cross-origin request refused."
    _, page = await d.owner.call("GET", f"{USERS}?q=csrf")
    assert page["count"] == 0


async def test_deleted_or_suspended_admin_loses_power_at_once(client: Client) -> None:
    """An admin's session stops working the moment it is suspended or demoted."""
    d = await first_user(client)
    admin = await another_user(d, "user-admin")
    assert (await admin.call("GET", USERS))[0] == 200
    await d.owner.call("PUT", f"{USERS}/{admin.user_id}/roles", {"roles": []})
    _, page = await admin.call("GET", USERS)
    assert [u["id"] for u in page["users"]] == [admin.user_id]
    await d.owner.call("PUT", f"{USERS}/{admin.user_id}/status/suspend")
    assert (await admin.call("GET", USERS))[0] == 401
