"""API tokens: Coder's apikey_test.go cases ported to HTTP (each names its Go test), the
validation of scopes, allow-lists and lifetimes, and what a token may do once issued."""

from __future__ import annotations

import json
import uuid
from typing import Any

from service import keys
from tests.api.admin_support import FORBIDDEN, NOT_FOUND, USERS, Session, another_user, first_user
from tests.conftest import Client, MakeClient
from tests.support import FakeClock

DAY = 86400
NS = 1_000_000_000
TOKENS = f"{USERS}/me/keys/tokens"


async def create(s: Session, body: dict[str, Any], path: str = TOKENS) -> tuple[int, Any]:
    return await s.call("POST", path, body)


async def as_token(s: Session, body: dict[str, Any]) -> Session:
    """A session for the same user that authenticates with a new token."""
    status, created = await create(s, body)
    assert status == 201, created
    return Session(s.client, created["key"], s.user_id, s.username, s.email)


async def audit(client: Client) -> list[dict[str, str]]:
    return await client.app[keys.AUDIT].tail(200)


# -- TestTokenCRUD, TestTokenScoped, durations ------------------------------------------------


async def test_token_crud(client: Client, clock: FakeClock) -> None:
    """TestTokenCRUD: none at first; create with defaults (7 days, coder:all); list it under
    its id; delete it; creation and deletion are audited, without the secret."""
    d = await first_user(client)
    status, listed = await d.owner.call("GET", TOKENS)
    assert (status, listed) == (200, [])
    status, created = await create(d.owner, {})
    assert status == 201 and set(created) == {"key"}
    key = created["key"]
    assert len(key) == 33 and key[10] == "-"
    status, listed = await d.owner.call("GET", TOKENS)
    assert status == 200 and len(listed) == 1
    token = listed[0]
    assert key.startswith(token["id"] + "-")
    assert token["scopes"] == ["coder:all"] and token["scope"] == "all"
    assert token["allow_list"] == [{"type": "*", "id": "*"}]
    assert token["login_type"] == "token" and token["username"] == "admin"
    assert token["user_id"] == d.owner.user_id and token["token_name"]
    assert token["lifetime_seconds"] == 7 * DAY
    assert token["last_used"] == "0001-01-01T00:00:00Z"
    status, _ = await d.owner.call("DELETE", f"{USERS}/me/keys/{token['id']}")
    assert status == 204
    assert await d.owner.call("GET", TOKENS) == (200, [])
    events = [e for e in await audit(client) if e["event"].startswith("api_key")]
    assert [e["event"] for e in events] == ["api_key_created", "api_key_deleted"]
    assert all(key.split("-")[1] not in str(e) for e in await audit(client))


async def test_token_scoped(client: Client) -> None:
    """TestTokenScoped: the legacy `application_connect` is stored as its canonical name,
    and the legacy single `scope` field says what it was."""
    d = await first_user(client)
    status, _ = await create(d.owner, {"scopes": ["application_connect"]})
    assert status == 201
    status, listed = await d.owner.call("GET", TOKENS)
    assert listed[0]["scopes"] == ["coder:application_connect"]
    assert listed[0]["scope"] == "application_connect"
    status, _ = await create(d.owner, {"scope": "all", "token_name": "legacy"})
    assert status == 201
    status, token = await d.owner.call("GET", f"{TOKENS}/legacy")
    assert (status, token["scopes"], token["scope"]) == (200, ["coder:all"], "all")
    status, _ = await create(d.owner, {"scopes": ["workspace:read"], "token_name": "narrow"})
    status, token = await d.owner.call("GET", f"{TOKENS}/narrow")
    assert (token["scopes"], token["scope"]) == (["workspace:read"], "")


async def test_user_set_token_duration(client: Client, clock: FakeClock) -> None:
    """TestUserSetTokenDuration: a lifetime (nanoseconds, as Go's time.Duration) sets the
    expiry."""
    d = await first_user(client)
    status, _ = await create(d.owner, {"lifetime": 3 * DAY * NS, "token_name": "three"})
    assert status == 201
    status, token = await d.owner.call("GET", f"{TOKENS}/three")
    assert token["lifetime_seconds"] == 3 * DAY
    status, listed = await d.owner.call("GET", TOKENS)
    assert listed[0]["expires_at"] == token["expires_at"]


async def test_token_user_set_max_lifetime(make_client: MakeClient) -> None:
    """TestTokenUserSetMaxLifetime: above MAX_TOKEN_LIFETIME is refused with Go's duration."""
    client = await make_client(max_token_lifetime=7 * DAY)
    d = await first_user(client)
    assert (await create(d.owner, {"lifetime": 6 * DAY * NS}))[0] == 201
    status, body = await create(d.owner, {"lifetime": 8 * DAY * NS})
    assert (status, body) == (
        400,
        {
            "message": "Failed to validate create API key request.",
            "detail": "lifetime must be less than 168h0m0s",
        },
    )
    status, body = await d.owner.call("GET", f"{TOKENS}/tokenconfig")
    assert (status, body) == (200, {"max_token_lifetime": 7 * DAY * NS})


async def test_token_custom_default_lifetime(make_client: MakeClient) -> None:
    """TestTokenCustomDefaultLifetime / TestAPIKey_SetDefault: DEFAULT_TOKEN_LIFETIME."""
    client = await make_client(default_token_lifetime=12 * 3600)
    d = await first_user(client)
    assert (await create(d.owner, {}))[0] == 201
    status, listed = await d.owner.call("GET", TOKENS)
    assert status == 200
    assert listed[0]["lifetime_seconds"] == 12 * 3600


async def test_token_config_default(client: Client) -> None:
    """Coder's default maximum: 876600h (100 years and 25 leap days), in nanoseconds."""
    d = await first_user(client)
    assert await d.owner.call("GET", f"{TOKENS}/tokenconfig") == (
        200,
        {"max_token_lifetime": 876600 * 3600 * NS},
    )


async def test_api_key_ok_and_deleted_user(client: Client) -> None:
    """TestAPIKey_OK and TestAPIKey_Deleted: POST /users/{user}/keys makes a session-like
    key; for a deleted user it is a 400."""
    d = await first_user(client)
    status, body = await d.owner.call("POST", f"{USERS}/me/keys")
    assert status == 201 and len(body["key"]) == 33
    cli = Session(client, body["key"], d.owner.user_id, "admin", d.owner.email)
    status, me = await cli.call("GET", f"{USERS}/me")
    assert (status, me["id"]) == (200, d.owner.user_id)
    other = await another_user(d)
    assert (await d.owner.call("DELETE", f"{USERS}/{other.user_id}"))[0] == 200
    status, body = await d.owner.call("POST", f"{USERS}/{other.username}/keys")
    assert status == 400 and body["message"] == '"user" must be an existing uuid or username.'


# -- validation ------------------------------------------------------------------------------


async def test_duplicate_name(client: Client) -> None:
    """A second live token of the same name for the same user is a 409 (Coder's message);
    another user may use the name."""
    d = await first_user(client)
    assert (await create(d.owner, {"token_name": "ci"}))[0] == 201
    status, body = await create(d.owner, {"token_name": "ci"})
    assert (status, body) == (
        409,
        {
            "message": 'A token with name "ci" already exists.',
            "validations": [
                {"field": "name", "detail": "This value is already in use and should be unique."}
            ],
        },
    )
    member = await another_user(d)
    assert (await create(member, {"token_name": "ci"}))[0] == 201


async def test_name_is_free_again_after_delete_and_expiry(client: Client, clock: FakeClock) -> None:
    """Deleting a token, or its expiry, frees its name."""
    d = await first_user(client)
    status, _ = await create(d.owner, {"token_name": "ci", "lifetime": 3600 * NS})
    status, token = await d.owner.call("GET", f"{TOKENS}/ci")
    assert status == 200
    assert (await d.owner.call("DELETE", f"{USERS}/me/keys/{token['id']}"))[0] == 204
    assert (await create(d.owner, {"token_name": "ci", "lifetime": 3600 * NS}))[0] == 201
    clock.advance(3601)
    assert (await create(d.owner, {"token_name": "ci"}))[0] == 201


async def test_scope_validation(client: Client) -> None:
    """Only external names (the catalog and the two legacy aliases) may be requested:
    internal and unknown scopes are a 400 with Coder's detail."""
    d = await first_user(client)
    for name in ("debug_info:read", "no_user_data", "workspace:fly", "user:read"):
        status, body = await create(d.owner, {"scopes": [name]})
        assert (status, body) == (
            400,
            {
                "message": "Failed to create API key.",
                "detail": f'invalid or unsupported API key scope: "{name}"',
            },
        ), name
    status, body = await create(d.owner, {"scope": "bogus"})
    assert body["detail"] == 'invalid or unsupported API key scope: "bogus"'


async def test_allow_list_validation_and_normalization(client: Client) -> None:
    """Entries are `<type>:<id>` strings or `{"type", "id"}` objects with a known type and a
    UUID or `*`, checked while the body is decoded (Coder's APIAllowListTarget); then at most
    128, typed wildcards shadow ids, `*:*` swallows everything; the answer lists objects."""
    d = await first_user(client)
    some = str(uuid.uuid4())
    invalid_json = "Request body must be valid JSON."
    cases: list[tuple[object, str, str]] = [
        (["bogus"], invalid_json, 'invalid allow_list entry "bogus": want <type>:<id>'),
        (["nope:*"], invalid_json, 'unknown resource type "nope"'),
        (["USER:*"], invalid_json, 'unknown resource type "USER"'),
        (["user:123"], invalid_json, 'invalid user ID (must be UUID): "123"'),
        ([{"type": "user"}], invalid_json, "allow_list entry must include both type and id"),
        ([7], invalid_json, "invalid allow_list entry: expected object with type/id or string"),
        (
            [f"workspace:{uuid.uuid4()}" for _ in range(129)],
            "Failed to create API key.",
            "allow_list has 129 entries; max allowed is 128",
        ),
    ]
    for entries, message, detail in cases:
        status, body = await create(d.owner, {"allow_list": entries})
        assert (status, body) == (400, {"message": message, "detail": detail}), entries
    stored_cases: list[tuple[list[object], list[dict[str, str]]]] = [
        (
            [f"workspace:{some}", "workspace:*", {"type": "template", "id": some}],
            [{"type": "template", "id": some}, {"type": "workspace", "id": "*"}],
        ),
        ([f"user:{some}", "*:*"], [{"type": "*", "id": "*"}]),
        ([f" user : {some.upper()} "], [{"type": "user", "id": some}]),
    ]
    for n, (entries, stored) in enumerate(stored_cases):
        status, _ = await create(d.owner, {"allow_list": entries, "token_name": f"t{n}"})
        assert status == 201
        status, token = await d.owner.call("GET", f"{TOKENS}/t{n}")
        assert token["allow_list"] == stored


async def test_lifetime_type_errors(client: Client) -> None:
    """`lifetime` is Go's time.Duration: a string or a fraction is Go's decoding error; zero
    means the default and a negative value is refused."""
    d = await first_user(client)
    status, body = await create(d.owner, {"lifetime": "1h"})
    assert (status, body["detail"]) == (
        400,
        "json: cannot unmarshal string into Go struct field CreateTokenRequest.lifetime "
        "of type time.Duration",
    )
    status, body = await create(d.owner, {"lifetime": 1.5})
    assert status == 400 and body["message"] == "Request body must be valid JSON."
    status, body = await create(d.owner, {"lifetime": -1})
    assert (status, body["detail"]) == (400, "lifetime must be positive number greater than 0")


# -- reading and deleting ----------------------------------------------------------------------


async def test_read_by_name_and_id(client: Client) -> None:
    """GET by name and by id answer codersdk.APIKey; unknown ones are Coder's 404; a key of
    another user is not found under this user's path."""
    d = await first_user(client)
    await create(d.owner, {"token_name": "deploy"})
    status, token = await d.owner.call("GET", f"{TOKENS}/deploy")
    assert status == 200 and "username" not in token
    assert await d.owner.call("GET", f"{USERS}/me/keys/{token['id']}") == (200, token)
    assert await d.owner.call("GET", f"{TOKENS}/nothing") == (404, NOT_FOUND)
    assert await d.owner.call("GET", f"{USERS}/me/keys/AAAAAAAAAA") == (404, NOT_FOUND)
    member = await another_user(d)
    assert await member.call("GET", f"{USERS}/me/keys/{token['id']}") == (404, NOT_FOUND)
    assert await member.call("DELETE", f"{USERS}/me/keys/{token['id']}") == (404, NOT_FOUND)
    assert (await d.owner.call("GET", f"{TOKENS}/deploy"))[0] == 200


async def test_include_all(client: Client) -> None:
    """`include_all` lists everyone's tokens that the caller may read, with usernames: all
    for an owner, only one's own for a member."""
    d = await first_user(client)
    member = await another_user(d)
    await create(d.owner, {"token_name": "mine"})
    await create(member, {"token_name": "theirs"})
    status, everything = await d.owner.call("GET", f"{TOKENS}?include_all=true")
    assert sorted((t["username"], t["token_name"]) for t in everything) == sorted(
        [("admin", "mine"), (member.username, "theirs")]
    )
    status, own = await member.call("GET", f"{TOKENS}?include_all=true")
    assert [(t["username"], t["token_name"]) for t in own] == [(member.username, "theirs")]
    status, own = await d.owner.call("GET", f"{TOKENS}?include_all=nope")
    assert status == 200
    assert [t["token_name"] for t in own] == ["mine"]


async def test_permissions_on_other_users_tokens(client: Client) -> None:
    """An owner manages anyone's tokens; a user-admin may read users but holds no api_key
    permission (403 to create, nothing listed); a member cannot even name another user."""
    d = await first_user(client)
    member = await another_user(d)
    user_admin = await another_user(d, "user-admin")
    path = f"{USERS}/{member.user_id}/keys/tokens"
    assert (await d.owner.call("POST", path, {"token_name": "for-you"}))[0] == 201
    assert await user_admin.call("POST", path, {"token_name": "x"}) == (403, FORBIDDEN)
    assert await user_admin.call("GET", path) == (200, [])
    status, body = await member.call("GET", f"{USERS}/{d.owner.user_id}/keys/tokens")
    assert (status, body["message"]) == (400, '"user" must be an existing uuid or username.')
    status, listed = await member.call("GET", TOKENS)
    assert [t["token_name"] for t in listed] == ["for-you"]


# -- using a token ---------------------------------------------------------------------------


async def test_token_authenticates_and_first_use_is_audited_once(
    client: Client, clock: FakeClock
) -> None:
    """A token authenticates like a session from every source; its first use is recorded
    (last_used, one audit event) and later uses within the hour write nothing."""
    d = await first_user(client)
    t = await as_token(d.owner, {"token_name": "bot"})
    for headers in (
        {"Coder-Session-Token": t.token},
        {"Authorization": f"Bearer {t.token}"},
    ):
        resp = await client.get(f"{USERS}/me", headers=headers)
        assert resp.status == 200
    resp = await client.get(f"{USERS}/me?coder_session_token={t.token}")
    assert resp.status == 200
    status, token = await d.owner.call("GET", f"{TOKENS}/bot")
    assert status == 200
    assert token["last_used"] != "0001-01-01T00:00:00Z"
    firsts = [e for e in await audit(client) if e["event"] == "api_key_first_used"]
    assert len(firsts) == 1 and firsts[0]["key_id"] == token["id"]


async def test_token_lifetime_is_fixed(client: Client, clock: FakeClock) -> None:
    """Unlike a session, a token is not extended by use: it expires when it was created to
    (deliberately stricter than Coder, which slides tokens too)."""
    d = await first_user(client)
    t = await as_token(d.owner, {"token_name": "short", "lifetime": 2 * 3600 * NS})
    status, before = await d.owner.call("GET", f"{TOKENS}/short")
    for _ in range(3):
        clock.advance(1800)
        assert (await t.call("GET", f"{USERS}/me"))[0] == 200
    status, after = await d.owner.call("GET", f"{TOKENS}/short")
    assert after["expires_at"] == before["expires_at"]
    clock.advance(1801)
    status, body = await t.call("GET", f"{USERS}/me")
    assert status == 401 and body["detail"].startswith("API key expired at")


async def test_deleted_token_and_suspended_owner_stop_at_once(client: Client) -> None:
    """Deleting a token, suspending or deleting its owner, all stop it on the next request."""
    d = await first_user(client)
    member = await another_user(d)
    t1 = await as_token(member, {"token_name": "a"})
    t2 = await as_token(member, {"token_name": "b"})
    assert (await t1.call("GET", f"{USERS}/me"))[0] == 200
    status, token = await member.call("GET", f"{TOKENS}/a")
    assert status == 200
    assert (await member.call("DELETE", f"{USERS}/me/keys/{token['id']}"))[0] == 204
    assert (await t1.call("GET", f"{USERS}/me"))[0] == 401
    assert (await t2.call("GET", f"{USERS}/me"))[0] == 200
    assert (await d.owner.call("PUT", f"{USERS}/{member.user_id}/status/suspend"))[0] == 200
    assert (await t2.call("GET", f"{USERS}/me"))[0] == 401
    assert (await d.owner.call("PUT", f"{USERS}/{member.user_id}/status/activate"))[0] == 200
    assert (await t2.call("GET", f"{USERS}/me"))[0] == 200
    assert (await d.owner.call("DELETE", f"{USERS}/{member.user_id}"))[0] == 200
    assert (await t2.call("GET", f"{USERS}/me"))[0] == 401


async def test_role_change_applies_to_tokens_at_once(client: Client) -> None:
    """A token acts with its owner's current roles: a role granted or removed counts on the
    next request."""
    d = await first_user(client)
    member = await another_user(d)
    t = await as_token(member, {"token_name": "all"})
    check = {"checks": {"c": {"object": {"resource_type": "user"}, "action": "create"}}}
    assert await t.call("POST", "/api/v2/authcheck", check) == (200, {"c": False})
    await d.owner.call("PUT", f"{USERS}/{member.user_id}/roles", {"roles": ["user-admin"]})
    assert await t.call("POST", "/api/v2/authcheck", check) == (200, {"c": True})
    await d.owner.call("PUT", f"{USERS}/{member.user_id}/roles", {"roles": []})
    assert await t.call("POST", "/api/v2/authcheck", check) == (200, {"c": False})


async def test_coder_typescript_client_token_calls(client: Client) -> None:
    """The token requests Coder's site/src/api/api.ts makes, as it makes them: getTokenConfig,
    createToken (JSON body with lifetime in nanoseconds and scopes), getTokens with
    include_all as a query parameter, deleteToken, and createApiKey (POST without a body)."""
    d = await first_user(client)
    headers = {"Coder-Session-Token": d.owner.token}

    async def request(method: str, url: str, body: Any = None, **params: Any) -> Any:
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"]["Content-Type"] = "application/json"
        resp = await client.request(
            method, url, params={k: str(v) for k, v in params.items()}, **kwargs
        )
        assert resp.ok, (method, url, resp.status, await resp.text())
        return None if resp.status == 204 else await resp.json()

    config = await request("GET", f"{TOKENS}/tokenconfig")
    assert config["max_token_lifetime"] > 0
    created = await request(
        "POST", TOKENS, {"lifetime": 30 * DAY * NS, "scopes": ["coder:all"], "token_name": "ui"}
    )
    assert len(created["key"]) == 33
    listed = await request("GET", TOKENS, include_all="true")
    assert [(t["token_name"], t["username"]) for t in listed] == [("ui", "admin")]
    assert await request("DELETE", f"{USERS}/me/keys/{listed[0]['id']}") is None
    assert await request("GET", TOKENS, include_all="false") == []
    key = await request("POST", f"{USERS}/{d.owner.user_id}/keys")
    assert len(key["key"]) == 33
