"""What a scoped token may do: authcheck answers for the token (its owner's roles AND its
scopes AND its allow-list, spec §7.4), and the service's own endpoints refuse what the scope
does not cover. The expected expansions are written out here from spec §2.1, not read from
the service's catalog."""

from __future__ import annotations

import uuid

import pytest

from tests.api.admin_support import FORBIDDEN, USERS, Session, another_user, first_user
from tests.api.test_tokens import as_token
from tests.conftest import Client

# spec §2.1: each composite's site-level permissions.
EXPANSION: dict[str, set[tuple[str, str]]] = {
    "coder:workspaces.create": {
        ("template", "read"), ("template", "use"),
        ("workspace", "create"), ("workspace", "update"), ("workspace", "read"),
    },
    "coder:workspaces.operate": {("workspace", "read"), ("workspace", "update")},
    "coder:workspaces.delete": {("workspace", "read"), ("workspace", "delete")},
    "coder:workspaces.access": {
        ("workspace", "read"), ("workspace", "ssh"), ("workspace", "application_connect"),
    },
    "coder:templates.build": {
        ("template", "read"), ("file", "create"), ("file", "read"), ("provisioner_jobs", "read"),
    },
    "coder:templates.author": {
        ("template", "read"), ("template", "create"), ("template", "update"),
        ("template", "delete"), ("template", "view_insights"), ("file", "create"), ("file", "read"),
    },
    "coder:apikeys.manage_self": {
        ("api_key", "read"), ("api_key", "create"), ("api_key", "update"), ("api_key", "delete"),
    },
    "coder:application_connect": {("workspace", "application_connect")},
    "workspace:read": {("workspace", "read")},
    "user:read_personal": {("user", "read_personal")},
}  # fmt: skip

# Questions about the caller's own objects (owner_id "me"), which both an owner's and a
# member's roles allow: the answer is then the scope's.
OWN_CHECKS: list[tuple[str, str]] = [
    ("workspace", "read"), ("workspace", "create"), ("workspace", "update"),
    ("workspace", "delete"), ("workspace", "ssh"), ("workspace", "application_connect"),
    ("template", "read"), ("template", "use"), ("template", "create"),
    ("file", "create"), ("file", "read"), ("api_key", "create"), ("api_key", "delete"),
    ("user", "read_personal"),
]  # fmt: skip


def _batch(checks: list[tuple[str, str]], owner: str = "me") -> dict[str, object]:
    return {
        "checks": {
            f"{r}.{a}": {"object": {"resource_type": r, "owner_id": owner}, "action": a}
            for r, a in checks
        }
    }


def _expected(scope: str, checks: list[tuple[str, str]]) -> dict[str, bool]:
    granted = EXPANSION[scope]
    return {
        f"{r}.{a}": (r, a) in granted or (r, "*") in granted or ("*", "*") in granted
        for r, a in checks
    }


@pytest.mark.parametrize("scope", sorted(EXPANSION))
async def test_composite_scope_table(client: Client, scope: str) -> None:
    """Each scope against the same checks, for an owner's and a member's token: allowed
    exactly where the scope's expansion grants it (both roles allow all of them)."""
    d = await first_user(client)
    member = await another_user(d)
    for who in (d.owner, member):
        token = await as_token(who, {"scopes": [scope], "token_name": f"t-{scope}"})
        status, answers = await token.call("POST", "/api/v2/authcheck", _batch(OWN_CHECKS))
        assert status == 200
        assert answers == _expected(scope, OWN_CHECKS), (who.username, scope)


async def test_scope_never_widens_roles(client: Client) -> None:
    """A scope only narrows: site-wide template reads are the owner's, never a member's,
    whatever the token's scope."""
    d = await first_user(client)
    member = await another_user(d)
    site_checks = [("template", "read"), ("user", "create"), ("workspace", "read")]
    for who, want in ((d.owner, True), (member, False)):
        token = await as_token(who, {"scopes": ["coder:templates.build"], "token_name": "b"})
        status, answers = await token.call("POST", "/api/v2/authcheck", _batch(site_checks, ""))
        assert answers == {"template.read": want, "user.create": False, "workspace.read": False}
        full = await as_token(who, {"token_name": "full"})
        status, answers = await full.call("POST", "/api/v2/authcheck", _batch(site_checks, ""))
        assert status == 200
        assert answers == {"template.read": want, "user.create": want, "workspace.read": want}


async def test_low_level_wildcard_and_union(client: Client) -> None:
    """`workspace:*` grants every workspace action and nothing else; several scopes are a
    union."""
    d = await first_user(client)
    token = await as_token(
        d.owner, {"scopes": ["workspace:*", "coder:apikeys.manage_self"], "token_name": "u"}
    )
    checks = [("workspace", "ssh"), ("workspace", "delete"), ("api_key", "read"), ("file", "read")]
    status, answers = await token.call("POST", "/api/v2/authcheck", _batch(checks))
    assert status == 200
    assert answers == {
        "workspace.ssh": True,
        "workspace.delete": True,
        "api_key.read": True,
        "file.read": False,
    }


async def test_allow_list(client: Client) -> None:
    """An allow-list restricts which objects: `user:<id>` passes that user only (by
    resource_id), `type:*` every object of the type, and objects without an id pass only
    entries whose id is `*`."""
    d = await first_user(client)
    other = await another_user(d)
    me, them = d.owner.user_id, other.user_id

    def by_id(user_id: str) -> dict[str, object]:
        return {"object": {"resource_type": "user", "resource_id": user_id}, "action": "read"}

    batch = {
        "checks": {
            "me": by_id(me),
            "them": by_id(them),
            "anyone": {"object": {"resource_type": "user"}, "action": "read"},
            "workspace": {"object": {"resource_type": "workspace"}, "action": "read"},
        }
    }
    cases = [
        ([f"user:{me}"], {"me": True, "them": False, "anyone": False, "workspace": False}),
        (["user:*"], {"me": True, "them": True, "anyone": True, "workspace": False}),
        ([f"workspace:{uuid.uuid4()}"], dict.fromkeys(batch["checks"], False)),
        (["*:*"], {"me": True, "them": True, "anyone": True, "workspace": True}),
    ]  # fmt: skip
    for n, (allow, want) in enumerate(cases):
        token = await as_token(d.owner, {"allow_list": allow, "token_name": f"a{n}"})
        assert await token.call("POST", "/api/v2/authcheck", batch) == (200, want), allow


# -- the service's own endpoints -----------------------------------------------------------


async def test_scoped_token_cannot_manage_users(client: Client) -> None:
    """An owner's `workspace:read` token may not create, suspend or list users, read its own
    user, or start a login conversion: Coder's 403/400 shapes."""
    d = await first_user(client)
    member = await another_user(d)
    token = await as_token(d.owner, {"scopes": ["workspace:read"], "token_name": "ws"})
    body = {
        "email": "x@corp.example",
        "username": "x",
        "password": "Correct-Horse-9",
        "organization_ids": [d.org],
    }
    status, answer = await token.call("POST", USERS, body)
    assert (status, answer["message"]) == (403, "You are not authorized to create users.")
    status, answer = await token.call("PUT", f"{USERS}/{member.user_id}/status/suspend")
    assert status == 400 and answer["message"] == '"user" must be an existing uuid or username.'
    assert await token.call("GET", USERS) == (200, {"users": [], "count": 0})
    status, answer = await token.call("GET", f"{USERS}/me")
    assert (status, answer["detail"]) == (400, 'queried user="me"')
    status, answer = await token.call(
        "POST", f"{USERS}/me/convert-login", {"to_type": "oidc", "password": "x"}
    )
    assert status == 400
    status, answer = await member.call("GET", f"{USERS}/{member.user_id}")
    assert status == 200  # the member's own session still works


async def test_personal_scope_reads_only_oneself(client: Client) -> None:
    """`user:read_personal` is not `user:read`: Coder's user lookup needs `read`, so even
    /users/me is out of such a token's reach, while a `coder:all` token reads it."""
    d = await first_user(client)
    personal = await as_token(d.owner, {"scopes": ["user:read_personal"], "token_name": "p"})
    assert (await personal.call("GET", f"{USERS}/me"))[0] == 400
    full = await as_token(d.owner, {"token_name": "f"})
    assert (await full.call("GET", f"{USERS}/me"))[0] == 200


async def test_token_cannot_mint_broader_token(client: Client) -> None:
    """A token that may manage API keys cannot create a key broader than itself: not a
    full-access token, not a session-like key, not one without its allow-list restriction.
    (Coder's user lookup needs `user:read`, so such a token is pinned to its user by id.)"""
    d = await first_user(client)
    pinned = await as_token(
        d.owner,
        {"allow_list": ["api_key:*", f"user:{d.owner.user_id}"], "token_name": "pinned"},
    )
    assert (await pinned.call("GET", f"{USERS}/me"))[0] == 200
    tokens = f"{USERS}/me/keys/tokens"
    assert await pinned.call("POST", tokens, {"token_name": "all"}) == (403, FORBIDDEN)
    assert await pinned.call("POST", f"{USERS}/me/keys") == (403, FORBIDDEN)
    wide = {"scopes": ["api_key:read"], "token_name": "wide"}
    assert await pinned.call("POST", tokens, wide) == (403, FORBIDDEN)
    narrow = {"scopes": ["api_key:read"], "allow_list": ["api_key:*"], "token_name": "narrow"}
    assert (await pinned.call("POST", tokens, narrow))[0] == 201
    keys_only = await as_token(
        d.owner, {"scopes": ["coder:apikeys.manage_self"], "token_name": "k"}
    )
    status, body = await keys_only.call("POST", tokens, {"token_name": "x"})
    assert status == 400 and body["detail"] == 'queried user="me"'


async def test_scoped_token_lists_and_deletes_within_scope(client: Client) -> None:
    """A token allowed `api_key:*` (and its own user) lists and deletes its user's tokens;
    a `workspace:read` token cannot reach the token routes at all (its user lookup fails)."""
    d = await first_user(client)
    manager = await as_token(
        d.owner, {"allow_list": ["api_key:*", f"user:{d.owner.user_id}"], "token_name": "m"}
    )
    reader = await as_token(d.owner, {"scopes": ["workspace:read"], "token_name": "r"})
    tokens = f"{USERS}/me/keys/tokens"
    status, listed = await manager.call("GET", tokens)
    assert sorted(t["token_name"] for t in listed) == ["m", "r"]
    status, body = await reader.call("GET", tokens)
    assert (status, body["detail"]) == (400, 'queried user="me"')
    victim = next(t for t in listed if t["token_name"] == "r")
    assert (await manager.call("DELETE", f"{USERS}/me/keys/{victim['id']}"))[0] == 204
    assert (await reader.call("GET", tokens))[0] == 401


async def test_session_unaffected(client: Client) -> None:
    """Sessions from a password login carry full access: the owner's session still manages
    users while its scoped tokens cannot."""
    d = await first_user(client)
    session_answer = await d.owner.call("GET", USERS)
    assert session_answer[0] == 200 and session_answer[1]["count"] == 1
    assert isinstance(d.owner, Session)


LOW_LEVEL = [("workspace", "start"), ("workspace", "ssh"), ("template", "use"), ("api_key", "read")]


async def test_expand_scope_low_level_pairs(client: Client) -> None:
    """TestExpandScope/low_level_pairs: a `resource:action` scope grants exactly that one
    permission, and with the default allow-list any object of the type."""
    d = await first_user(client)
    for resource, action in LOW_LEVEL:
        token = await as_token(
            d.owner, {"scopes": [f"{resource}:{action}"], "token_name": f"{resource}-{action}"}
        )
        status, answers = await token.call("POST", "/api/v2/authcheck", _batch(LOW_LEVEL))
        assert status == 200
        assert answers == {f"{r}.{a}": (r, a) == (resource, action) for r, a in LOW_LEVEL}


async def test_expand_scope_invalid_low_level(client: Client) -> None:
    """TestExpandScope/invalid_low_level: malformed and unknown names cannot be requested."""
    d = await first_user(client)
    for name in ("", "workspace:", ":read", "unknown:read", "workspace:bogus", "a:b:c"):
        status, body = await d.owner.call(
            "POST", f"{USERS}/me/keys/tokens", {"scopes": [name], "token_name": "x"}
        )
        assert (status, body["detail"]) == (
            400,
            f'invalid or unsupported API key scope: "{name}"',
        ), name
