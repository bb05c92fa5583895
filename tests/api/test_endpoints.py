"""First user, validate-password (vectors 21-24) and auth/scopes (vector 40)."""

from __future__ import annotations

from service import keys
from tests.conftest import Client, MakeClient, MakeUser, login
from tests.support import STRONG

FIRST = "/api/v2/users/first"
VALIDATE = "/api/v2/users/validate-password"
WEAK_HINT = (
    "insecure password, try including more special characters, using uppercase letters, "
    "using numbers or using a longer password"
)


async def test_first_user_flow(client: Client) -> None:
    """GET 404 before, POST 201 makes an owner in the default org, GET 200 and POST 409 after."""
    resp = await client.get(FIRST)
    assert resp.status == 404
    assert await resp.json() == {"message": "The initial user has not been created!"}
    resp = await client.post(
        FIRST, json={"email": "root@corp.example", "username": "root", "password": STRONG}
    )
    assert resp.status == 201
    body = await resp.json()
    user = await client.app[keys.USERS].get(body["user_id"])
    assert user is not None
    assert user.roles == ("owner",)
    assert list(user.orgs) == [body["organization_id"]]
    assert body["organization_id"] == await client.app[keys.USERS].default_org()
    resp = await client.get(FIRST)
    assert resp.status == 200
    assert await resp.json() == {"message": "The initial user has already been created!"}
    resp = await client.post(
        FIRST, json={"email": "two@corp.example", "username": "two", "password": STRONG}
    )
    assert resp.status == 409
    assert await resp.json() == {"message": "The initial user has already been created."}
    token = await login(client, "root@corp.example")
    me = await (await client.get("/api/v2/users/me", headers={"Coder-Session-Token": token})).json()
    assert me["roles"] == [{"name": "owner", "display_name": "Owner"}]


async def test_first_user_validation_and_policy(client: Client) -> None:
    """A bad username fails its tag; a weak password answers Coder's 400 with the policy text."""
    resp = await client.post(
        FIRST, json={"email": "root@corp.example", "username": "bad name", "password": STRONG}
    )
    assert resp.status == 400
    assert (await resp.json())["validations"] == [
        {
            "field": "username",
            "detail": 'Validation failed for tag "username" with value: "bad name"',
        }
    ]
    resp = await client.post(
        FIRST, json={"email": "root@corp.example", "username": "root", "password": "password"}
    )
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Password not strong enough!",
        "validations": [{"field": "password", "detail": WEAK_HINT}],
    }
    assert await client.app[keys.USERS].count() == 0


async def test_concurrent_first_user_only_one_wins(client: Client) -> None:
    """Two racing first-user requests: exactly one owner is created."""
    import asyncio

    responses = await asyncio.gather(
        *[
            client.post(
                FIRST,
                json={"email": f"r{i}@corp.example", "username": f"r{i}", "password": STRONG},
            )
            for i in range(5)
        ]
    )
    assert sorted(r.status for r in responses) == [201, 409, 409, 409, 409]
    assert await client.app[keys.USERS].count() == 1


async def _token(client: Client, make_user: MakeUser) -> dict[str, str]:
    await make_user("val@corp.example")
    return {"Coder-Session-Token": await login(client, "val@corp.example")}


async def test_validate_password_vectors(client: Client, make_user: MakeUser) -> None:
    """Vectors 21-23: valid flag and exact details for weak, strong and too-long passwords."""
    headers = await _token(client, make_user)
    cases = {
        "password": {"valid": False, "details": WEAK_HINT},
        STRONG: {"valid": True, "details": ""},
        "abcABC123": {
            "valid": False,
            "details": "insecure password, try including more special characters or using a "
            "longer password",
        },
        "aA1!" * 16 + "x": {
            "valid": False,
            "details": "password must be no more than 64 characters",
        },
    }
    for password, expected in cases.items():
        resp = await client.post(VALIDATE, json={"password": password}, headers=headers)
        assert resp.status == 200
        assert await resp.json() == expected


async def test_validate_password_empty(client: Client, make_user: MakeUser) -> None:
    """Vector 24: an empty password is a validation error."""
    headers = await _token(client, make_user)
    resp = await client.post(VALIDATE, json={"password": ""}, headers=headers)
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Validation failed.",
        "validations": [
            {"field": "password", "detail": 'Validation failed for tag "required" with value: ""'}
        ],
    }


async def test_validate_password_requires_session_by_default(make_client: MakeClient) -> None:
    """Deviation: no token -> 401; with VALIDATE_PASSWORD_ANONYMOUS anonymous calls work."""
    strict = await make_client()
    resp = await strict.post(VALIDATE, json={"password": "password"})
    assert resp.status == 401
    open_ = await make_client(validate_password_anonymous=True)
    resp = await open_.post(VALIDATE, json={"password": "password"})
    assert resp.status == 200
    assert await resp.json() == {"valid": False, "details": WEAK_HINT}


BASELINE_SCOPES = [
    "api_key:*",
    "api_key:create",
    "api_key:delete",
    "api_key:read",
    "api_key:update",
    "coder:all",
    "coder:apikeys.manage_self",
    "coder:application_connect",
    "coder:templates.author",
    "coder:templates.build",
    "coder:workspaces.access",
    "coder:workspaces.create",
    "coder:workspaces.delete",
    "coder:workspaces.operate",
    "file:*",
    "file:create",
    "file:read",
    "organization:*",
    "organization:delete",
    "organization:read",
    "organization:update",
    "task:*",
    "task:create",
    "task:delete",
    "task:read",
    "task:update",
    "template:*",
    "template:create",
    "template:delete",
    "template:read",
    "template:update",
    "template:use",
    "user:read_personal",
    "user:update_personal",
    "user_secret:*",
    "user_secret:create",
    "user_secret:delete",
    "user_secret:read",
    "user_secret:update",
    "workspace:*",
    "workspace:application_connect",
    "workspace:create",
    "workspace:delete",
    "workspace:read",
    "workspace:ssh",
    "workspace:start",
    "workspace:stop",
    "workspace:update",
]


async def test_scopes_baseline_catalog(client: Client) -> None:
    """Vector 40: public, sorted bytewise, exactly the 48 baseline entries."""
    resp = await client.get("/api/v2/auth/scopes")
    assert resp.status == 200
    external = (await resp.json())["external"]
    assert external == BASELINE_SCOPES
    assert external == sorted(external, key=str.encode)
    assert "all" not in external and "user.*" not in external
