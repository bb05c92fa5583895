"""POST /api/v2/authcheck: vectors 25-34, the handler's 400s, reload and the version header."""

from __future__ import annotations

import uuid
from typing import Any

from service import keys
from service.auth.admin import SYSTEM, given
from service.auth.users import User
from tests.conftest import Client, MakeUser, login

AUTHCHECK = "/api/v2/authcheck"
SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."


async def ask(client: Client, token: str, checks: dict[str, Any]) -> Any:
    resp = await client.post(
        AUTHCHECK, json={"checks": checks}, headers={"Coder-Session-Token": token}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


def q(action: str, **obj: Any) -> dict[str, Any]:
    return {"action": action, "object": obj}


class Fixture:
    """The spec's fixture: an owner, a member and an org admin in the default org."""

    def __init__(self, owner: User, member: User, org_admin: User, org: str) -> None:
        self.owner, self.member, self.org_admin, self.org = owner, member, org_admin, org


async def fixture(client: Client, make_user: MakeUser) -> Fixture:
    org = await client.app[keys.USERS].default_org()
    owner = await make_user("root@corp.example", roles=("owner",))
    member = await make_user("mel@corp.example")
    org_admin = await make_user("oda@corp.example", orgs={org: ("organization-admin",)})
    return Fixture(owner, member, org_admin, org)


async def test_no_token(client: Client) -> None:
    """Vector 25: no token -> 401 with the cookie detail and WWW-Authenticate."""
    resp = await client.post(AUTHCHECK, json={"checks": {}})
    assert resp.status == 401
    assert await resp.json() == {
        "message": SIGNED_OUT,
        "detail": 'Cookie "coder_session_token" or query parameter must be provided.',
    }
    assert resp.headers["WWW-Authenticate"].startswith(
        'Bearer realm="coder", error="invalid_token"'
    )


async def test_malformed_token(client: Client) -> None:
    """Vector 26: `abc` as header or bearer -> the parts-count detail."""
    for headers in ({"Coder-Session-Token": "abc"}, {"Authorization": "Bearer abc"}):
        resp = await client.post(AUTHCHECK, json={"checks": {}}, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["detail"] == (
            "Invalid API key format: incorrect amount of API key parts, expected 2 got 1"
        )


async def test_coder_batch(client: Client, make_user: MakeUser) -> None:
    """Vector 27: member, org admin and owner get Coder's answers (unknown template -> false)."""
    f = await fixture(client, make_user)
    template = str(uuid.uuid4())
    checks = {
        "read-all-users": q("read", resource_type="user"),
        "read-myself": q("read", resource_type="user", owner_id="me"),
        "read-own-workspaces": q("read", resource_type="workspace", owner_id="me"),
        "read-org-workspaces": q("read", resource_type="workspace", organization_id=f.org),
        "update-specific-template": q("update", resource_type="template", resource_id=template),
    }
    member = await ask(client, await login(client, "mel@corp.example"), checks)
    assert member == {
        "read-all-users": False,
        "read-myself": True,
        "read-own-workspaces": True,
        "read-org-workspaces": False,
        "update-specific-template": False,
    }
    admin = await ask(client, await login(client, "oda@corp.example"), checks)
    assert admin == {**member, "read-org-workspaces": True}
    owner = await ask(client, await login(client, "root@corp.example"), checks)
    # The service stores no templates: a template resource_id it does not know answers false.
    assert owner == {k: k != "update-specific-template" for k in checks}


async def test_missing_resource_type(client: Client, make_user: MakeUser) -> None:
    """Vector 28: an empty object -> 400 naming the key."""
    await make_user("a@corp.example")
    token = await login(client, "a@corp.example")
    resp = await client.post(
        AUTHCHECK,
        json={"checks": {"x": {"action": "read", "object": {}}}},
        headers={"Coder-Session-Token": token},
    )
    assert resp.status == 400
    assert await resp.json() == {
        "message": 'Object\'s "resource_type" field must be defined for key "x".'
    }


async def test_bad_resource_id(client: Client, make_user: MakeUser) -> None:
    """Vectors 29-31: bad uuid, unsupported type, and more than 10 resource ids."""
    await make_user("a@corp.example")
    headers = {"Coder-Session-Token": await login(client, "a@corp.example")}
    resp = await client.post(
        AUTHCHECK,
        json={"checks": {"x": q("read", resource_type="workspace", resource_id="abc")}},
        headers=headers,
    )
    assert resp.status == 400
    assert await resp.json() == {
        "message": 'Object "abc" id is not a valid uuid.',
        "validations": [{"field": "resource_id", "detail": "invalid UUID length: 3"}],
    }
    bad_format = "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"
    resp = await client.post(
        AUTHCHECK,
        json={"checks": {"x": q("read", resource_type="workspace", resource_id=bad_format)}},
        headers=headers,
    )
    assert (await resp.json())["validations"] == [
        {"field": "resource_id", "detail": "invalid UUID format"}
    ]
    msg = 'Object type "organization" does not support "resource_id" field.'
    resp = await client.post(
        AUTHCHECK,
        json={
            "checks": {"x": q("read", resource_type="organization", resource_id=str(uuid.uuid4()))}
        },
        headers=headers,
    )
    assert resp.status == 400
    assert await resp.json() == {
        "message": msg,
        "validations": [{"field": "resource_type", "detail": msg}],
    }
    many = {
        f"k{i}": q("read", resource_type="workspace", resource_id=str(uuid.uuid4()))
        for i in range(13)
    }
    resp = await client.post(AUTHCHECK, json={"checks": many}, headers=headers)
    assert resp.status == 400
    assert await resp.json() == {
        "message": 'Endpoint only supports using "resource_id" field 10 times, found 13 usages. '
        "Remove 3 objects with this field set."
    }


async def test_unknown_objects_and_empty_batches(client: Client, make_user: MakeUser) -> None:
    """Vector 32: an unknown workspace id answers false; {} and empty checks answer {}."""
    await make_user("a@corp.example", roles=("owner",))
    token = await login(client, "a@corp.example")
    assert await ask(
        client, token, {"x": q("read", resource_type="workspace", resource_id=str(uuid.uuid4()))}
    ) == {"x": False}
    bodies: list[dict[str, Any]] = [{}, {"checks": {}}, {"checks": None}]
    for body in bodies:
        resp = await client.post(AUTHCHECK, json=body, headers={"Coder-Session-Token": token})
        assert resp.status == 200
        assert await resp.read() == b"{}\n"


async def test_user_resource_id_uses_the_stored_user(client: Client, make_user: MakeUser) -> None:
    """A `user` resource_id is the stored user (owner = its id); unknown ids answer false."""
    f = await fixture(client, make_user)
    member_token = await login(client, "mel@corp.example")
    owner_token = await login(client, "root@corp.example")
    mine = {"x": q("update_personal", resource_type="user", resource_id=f.member.id)}
    theirs = {"x": q("read", resource_type="user", resource_id=f.owner.id)}
    nobody = {"x": q("read", resource_type="user", resource_id=str(uuid.uuid4()))}
    # The request's owner_id is ignored once the real object is known.
    spoofed = {"x": q("read", resource_type="user", resource_id=f.owner.id, owner_id="me")}
    assert await ask(client, member_token, mine) == {"x": True}
    assert await ask(client, member_token, theirs) == {"x": False}
    assert await ask(client, member_token, spoofed) == {"x": False}
    assert await ask(client, owner_token, theirs) == {"x": True}
    assert await ask(client, owner_token, nobody) == {"x": False}
    upper = {"x": q("read", resource_type="user", resource_id=f.member.id.upper())}
    assert await ask(client, member_token, upper) == {"x": True}


async def test_any_org(client: Client, make_user: MakeUser) -> None:
    """Vector 33: any_org create template; with an organization_id it is false for everyone."""
    f = await fixture(client, make_user)
    anywhere = {"x": q("create", resource_type="template", any_org=True)}
    with_org = {"x": q("create", resource_type="template", any_org=True, organization_id=f.org)}
    nil_org = {
        "x": q(
            "create",
            resource_type="template",
            any_org=True,
            organization_id="00000000-0000-0000-0000-000000000000",
        )
    }
    for email, expected in (
        ("root@corp.example", True),
        ("mel@corp.example", False),
        ("oda@corp.example", True),
    ):
        token = await login(client, email)
        assert await ask(client, token, anywhere) == {"x": expected}, email
        assert await ask(client, token, with_org) == {"x": False}, email
        assert await ask(client, token, nil_org) == {"x": expected}, email


async def test_unknown_actions_and_types(client: Client, make_user: MakeUser) -> None:
    """Vector 34: unknown actions/types are evaluated, not rejected."""
    await make_user("root@corp.example", roles=("owner",))
    token = await login(client, "root@corp.example")
    checks = {
        "template-bogus": q("bogus", resource_type="template"),
        "workspace-bogus": q("bogus", resource_type="workspace"),
        "no-such-type": q("read", resource_type="no_such_type"),
        "star-type": q("read", resource_type="*"),
        "empty-action": q("", resource_type="template"),
    }
    assert await ask(client, token, checks) == {
        "template-bogus": True,
        "workspace-bogus": False,
        "no-such-type": False,
        "star-type": False,
        "empty-action": True,
    }


async def test_role_change_takes_effect_next_request(client: Client, make_user: MakeUser) -> None:
    """Roles changed in Redis apply to the very next request of an existing session."""
    user = await make_user("rc@corp.example")
    token = await login(client, "rc@corp.example")
    check = {"x": q("read", resource_type="audit_log")}
    assert await ask(client, token, check) == {"x": False}
    user = await client.app[keys.ADMIN].set_site_roles(SYSTEM, user, given(["auditor"]))
    assert await ask(client, token, check) == {"x": True}
    await client.app[keys.ADMIN].set_site_roles(SYSTEM, user, given([]))
    assert await ask(client, token, check) == {"x": False}


async def test_workspace_creation_ban(client: Client, make_user: MakeUser) -> None:
    """A negative org permission beats the org admin's allow and the member's user-level allow."""
    org = await client.app[keys.USERS].default_org()
    await make_user(
        "ban@corp.example",
        orgs={org: ("organization-admin", "organization-workspace-creation-ban")},
    )
    token = await login(client, "ban@corp.example")
    checks = {
        "create-in-org": q("create", resource_type="workspace", organization_id=org),
        "create-own-in-org": q(
            "create", resource_type="workspace", organization_id=org, owner_id="me"
        ),
        "delete-own-in-org": q(
            "delete", resource_type="workspace", organization_id=org, owner_id="me"
        ),
        "update-own-in-org": q(
            "update", resource_type="workspace", organization_id=org, owner_id="me"
        ),
        "create-own-no-org": q("create", resource_type="workspace", owner_id="me"),
    }
    assert await ask(client, token, checks) == {
        "create-in-org": False,
        "create-own-in-org": False,
        "delete-own-in-org": False,
        "update-own-in-org": True,
        "create-own-no-org": True,
    }


async def test_user_level_needs_org_membership(client: Client, make_user: MakeUser) -> None:
    """An owned object in an org the subject is not in is refused (org_ok)."""
    await make_user("solo@corp.example")
    token = await login(client, "solo@corp.example")
    other_org = str(uuid.uuid4())
    checks = {
        "mine-in-my-org": q(
            "read",
            resource_type="workspace",
            owner_id="me",
            organization_id=await client.app[keys.USERS].default_org(),
        ),
        "mine-in-other-org": q(
            "read", resource_type="workspace", owner_id="me", organization_id=other_org
        ),
    }
    assert await ask(client, token, checks) == {"mine-in-my-org": True, "mine-in-other-org": False}


async def test_hundred_check_batch(client: Client, make_user: MakeUser) -> None:
    """A 100-check batch from a member is answered, each answer matching its 1-check batch."""
    f = await fixture(client, make_user)
    token = await login(client, "mel@corp.example")
    types = ["workspace", "template", "user", "group", "file", "organization", "audit_log"]
    actions = ["read", "create", "update", "delete"]
    checks: dict[str, Any] = {}
    for i in range(100):
        obj: dict[str, Any] = {"resource_type": types[i % len(types)]}
        if i % 3 == 0:
            obj["owner_id"] = "me"
        if i % 4 == 0:
            obj["organization_id"] = f.org
        if i % 5 == 0:
            obj["any_org"] = True
            obj.pop("organization_id", None)
        checks[f"c{i}"] = {"action": actions[i % len(actions)], "object": obj}
    batch = await ask(client, token, checks)
    assert len(batch) == 100
    for key, check in list(checks.items())[:100:7]:
        assert await ask(client, token, {key: check}) == {key: batch[key]}
    assert batch["c0"] is True  # read own workspace in own org, any_org
    assert batch["c1"] is False  # create template anywhere as member


async def test_policy_version_header(client: Client, make_user: MakeUser) -> None:
    """Every response carries X-Authz-Policy-Version, the loaded files' short hash."""
    await make_user("v@corp.example")
    token = await login(client, "v@corp.example")
    resp = await client.post(AUTHCHECK, json={}, headers={"Coder-Session-Token": token})
    version = resp.headers["X-Authz-Policy-Version"]
    assert version == client.app[keys.POLICIES].current.version
    assert len(version) == 12


async def test_the_same_batch_bytes_are_answered_for_each_caller(
    client: Client, make_user: MakeUser
) -> None:
    """A batch sent again byte for byte (its reading is remembered) is still answered for the
    caller who sends it, and a batch that was refused is refused again with the same error."""
    f = await fixture(client, make_user)
    raw = (
        b'{"checks":{"own":{"action":"read","object":{"resource_type":"workspace",'
        b'"owner_id":"me"}},"owners":{"action":"read","object":{"resource_type":"workspace",'
        b'"owner_id":"' + f.owner.id.encode() + b'"}}}}'
    )
    expected = {
        "mel@corp.example": {"own": True, "owners": False},
        "root@corp.example": {"own": True, "owners": True},
    }
    for email in [*expected, *expected]:
        token = await login(client, email)
        resp = await client.post(AUTHCHECK, data=raw, headers={"Coder-Session-Token": token})
        assert resp.status == 200
        assert await resp.json() == expected[email]
    token = await login(client, "mel@corp.example")
    for body, message in [
        (b'{"checks":{"x":{"action":7}}}', "Request body must be valid JSON."),
        (
            b'{"checks":{"x":{"action":"read","object":{}}}}',
            'Object\'s "resource_type" field must be defined for key "x".',
        ),
    ]:
        replies = []
        for _ in range(2):
            resp = await client.post(AUTHCHECK, data=body, headers={"Coder-Session-Token": token})
            assert resp.status == 400
            replies.append(await resp.json())
        assert replies[0] == replies[1]
        assert replies[0]["message"] == message
