"""POST /api/v2/users/login: spec §2.3 and vectors 1-10, plus the deliberate deviations."""

from __future__ import annotations

import re

from service import keys
from service.auth.passwords import pbkdf2_hash
from service.auth.users import NewUser
from tests.conftest import Client, MakeClient, MakeUser
from tests.support import STRONG, FakeClock

LOGIN = "/api/v2/users/login"
TOKEN = re.compile(r"^[0-9A-Za-z]{10}-[0-9A-Za-z]{22}$")
REQ = 'Validation failed for tag \\"required\\" with value: \\"\\"'


async def test_empty_body_is_eof(client: Client) -> None:
    """Vector 1: an empty body answers 400 with Go's `EOF` detail."""
    resp = await client.post(LOGIN, data=b"")
    assert resp.status == 400
    assert await resp.json() == {"message": "Request body must be valid JSON.", "detail": "EOF"}


async def test_not_json_has_go_decoder_detail(client: Client) -> None:
    """Vector 1: `not json` answers 400 with Go's scanner text."""
    resp = await client.post(LOGIN, data=b"not json")
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Request body must be valid JSON.",
        "detail": "invalid character 'o' in literal null (expecting 'u')",
    }


async def test_empty_object_reports_both_required_fields(client: Client) -> None:
    """Vector 2: `{}` gives one validation per field, in struct order, byte-exact."""
    resp = await client.post(LOGIN, data=b"{}")
    assert resp.status == 400
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body = await resp.read()
    assert (
        body
        == (
            '{"message":"Validation failed.","validations":['
            f'{{"field":"email","detail":"{REQ}"}},'
            f'{{"field":"password","detail":"{REQ}"}}]}}\n'
        ).encode()
    )


async def test_bad_email_format(client: Client) -> None:
    """Vector 3: a malformed email fails the `email` tag with the value shown."""
    resp = await client.post(LOGIN, json={"email": "nope", "password": "x"})
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Validation failed.",
        "validations": [
            {"field": "email", "detail": 'Validation failed for tag "email" with value: "nope"'}
        ],
    }


async def test_wrong_type_is_go_unmarshal_error(client: Client) -> None:
    """A number where a string belongs answers Go's unmarshal message."""
    resp = await client.post(LOGIN, json={"email": 5, "password": "x"})
    assert resp.status == 400
    assert await resp.json() == {
        "message": "Request body must be valid JSON.",
        "detail": "json: cannot unmarshal number into Go struct field "
        "LoginWithPasswordRequest.email of type string",
    }


async def test_unknown_email_and_wrong_password_look_the_same(
    client: Client, make_user: MakeUser
) -> None:
    """Vector 4: unknown email and wrong password both answer 401 with one message."""
    await make_user("carol@corp.example")
    for body in (
        {"email": "nobody@corp.example", "password": "whatever1"},
        {"email": "carol@corp.example", "password": "wrong"},
    ):
        resp = await client.post(LOGIN, json=body)
        assert resp.status == 401
        assert await resp.json() == {"message": "Incorrect email or password."}


async def test_success_returns_token_and_cookie(client: Client, make_user: MakeUser) -> None:
    """Vector 5: 201 with a Coder-format token and the session cookie, case-insensitive email."""
    await make_user("Dave@Corp.Example", "Tr0ub4dor&3-horse")
    resp = await client.post(
        LOGIN, json={"email": "dave@corp.example", "password": "Tr0ub4dor&3-horse"}
    )
    assert resp.status == 201
    token = (await resp.json())["session_token"]
    assert TOKEN.match(token)
    assert (
        resp.headers["Set-Cookie"] == f"coder_session_token={token}; Path=/; HttpOnly; SameSite=Lax"
    )


async def test_secure_cookie_setting(make_client: MakeClient) -> None:
    """SECURE_AUTH_COOKIE adds `Secure` to the session cookie."""
    client = await make_client(secure_auth_cookie=True)
    app = client.app
    user = await app[keys.DIRECTORY].create(
        NewUser(
            email="erin@corp.example",
            username="erin",
            hashed_password=await app[keys.PASSWORDS].hash(STRONG),
        )
    )
    assert user is not None
    resp = await client.post(LOGIN, json={"email": "erin@corp.example", "password": STRONG})
    assert resp.status == 201
    assert resp.headers["Set-Cookie"].endswith("; Path=/; HttpOnly; Secure; SameSite=Lax")


async def test_suspended_user(client: Client, make_user: MakeUser) -> None:
    """Vector 6: suspended + right password -> 401 account message; wrong password -> 401."""
    await make_user("frank@corp.example", status="suspended")
    resp = await client.post(LOGIN, json={"email": "frank@corp.example", "password": STRONG})
    assert resp.status == 401
    assert await resp.json() == {
        "message": "Your account is suspended. Contact an admin to reactivate your account."
    }
    resp = await client.post(LOGIN, json={"email": "frank@corp.example", "password": "nope"})
    assert resp.status == 401
    assert await resp.json() == {"message": "Incorrect email or password."}


async def test_oidc_user_without_password_gets_401_even_with_hunter2(
    client: Client, make_user: MakeUser
) -> None:
    """Vector 7 and the `hunter2` deviation: a user with no hash always gets 401."""
    await make_user("gina@corp.example", None, login_type="oidc")
    for password in ("anything-but-hunter2", "hunter2"):
        resp = await client.post(LOGIN, json={"email": "gina@corp.example", "password": password})
        assert resp.status == 401
        assert await resp.json() == {"message": "Incorrect email or password."}
    resp = await client.post(LOGIN, json={"email": "ghost@corp.example", "password": "hunter2"})
    assert resp.status == 401


async def test_wrong_login_type_with_correct_password(client: Client, make_user: MakeUser) -> None:
    """A non-password user whose hash matches gets Coder's 403 login-type message."""
    await make_user("hank@corp.example", login_type="github")
    resp = await client.post(LOGIN, json={"email": "hank@corp.example", "password": STRONG})
    assert resp.status == 403
    assert await resp.json() == {
        "message": 'Incorrect login type, attempting to use "password" but user is of login '
        'type "github"'
    }


async def test_dormant_user_is_activated(client: Client, make_user: MakeUser) -> None:
    """Vector 8: a dormant user logs in (201) and is active afterwards."""
    user = await make_user("ivy@corp.example", status="dormant")
    resp = await client.post(LOGIN, json={"email": "ivy@corp.example", "password": STRONG})
    assert resp.status == 201
    stored = await client.app[keys.USERS].get(user.id)
    assert stored is not None and stored.status == "active"


async def test_disable_password_auth(make_client: MakeClient) -> None:
    """Vector 9: password auth disabled -> 403 after a correct password, 401 for a wrong one."""
    client = await make_client(disable_password_auth=True)
    app = client.app
    await app[keys.DIRECTORY].create(
        NewUser("jack@corp.example", "jack", await app[keys.PASSWORDS].hash(STRONG))
    )
    resp = await client.post(LOGIN, json={"email": "jack@corp.example", "password": STRONG})
    assert resp.status == 403
    assert await resp.json() == {"message": "Password authentication is disabled."}
    resp = await client.post(LOGIN, json={"email": "jack@corp.example", "password": "bad"})
    assert resp.status == 401


async def test_61st_request_from_one_ip_is_rate_limited(make_client: MakeClient) -> None:
    """Vector 10: the 61st login POST within a minute answers 429 with Coder's message."""
    client = await make_client(login_failure_limit=-1)
    for _ in range(60):
        resp = await client.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
        assert resp.status == 401
    resp = await client.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
    assert resp.status == 429
    assert await resp.json() == {
        "message": "You've been rate limited for sending more than 60 requests in 1m0s."
    }
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["X-RateLimit-Limit"] == "60"
    assert resp.headers["X-RateLimit-Remaining"] == "0"


async def test_rate_limit_window_slides(make_client: MakeClient, clock: FakeClock) -> None:
    """After the minute passes, the same IP may log in again."""
    client = await make_client(login_rate_limit=3, login_failure_limit=-1)
    for _ in range(3):
        await client.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
    assert (
        await client.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
    ).status == 429
    clock.advance(61)
    assert (
        await client.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
    ).status == 401


async def test_rate_limit_disabled_with_minus_one(make_client: MakeClient) -> None:
    """LOGIN_RATE_LIMIT=-1 disables the login limit."""
    client = await make_client(login_rate_limit=-1, login_failure_limit=-1)
    for _ in range(65):
        resp = await client.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
        assert resp.status == 401


async def test_rate_limit_is_shared_between_replicas(make_client: MakeClient) -> None:
    """Two app instances on one Redis share the per-IP login budget."""
    a = await make_client(login_rate_limit=4, login_failure_limit=-1)
    b = await make_client(login_rate_limit=4, login_failure_limit=-1)
    for c in (a, b, a, b):
        assert (
            await c.post(LOGIN, json={"email": "x@corp.example", "password": "p"})
        ).status == 401
    assert (await a.post(LOGIN, json={"email": "x@corp.example", "password": "p"})).status == 429
    assert (await b.post(LOGIN, json={"email": "x@corp.example", "password": "p"})).status == 429


async def test_per_account_failure_budget(make_client: MakeClient, clock: FakeClock) -> None:
    """Deviation: after N failures an account answers 429 with Retry-After, then recovers."""
    client = await make_client(login_failure_limit=3, login_failure_window=600)
    app = client.app
    await app[keys.DIRECTORY].create(
        NewUser("kim@corp.example", "kim", await app[keys.PASSWORDS].hash(STRONG))
    )
    for _ in range(3):
        resp = await client.post(LOGIN, json={"email": "kim@corp.example", "password": "bad"})
        assert resp.status == 401
    # The right password is refused too while the budget is spent: guessing stays blocked.
    resp = await client.post(LOGIN, json={"email": "KIM@corp.example", "password": STRONG})
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.headers["RateLimit-Limit"] == "3"
    # Other accounts are unaffected; unknown addresses behave the same as known ones.
    resp = await client.post(LOGIN, json={"email": "lee@corp.example", "password": "bad"})
    assert resp.status == 401
    clock.advance(601)
    resp = await client.post(LOGIN, json={"email": "kim@corp.example", "password": STRONG})
    assert resp.status == 201


async def test_pbkdf2_hash_verifies_and_is_upgraded(client: Client, make_user: MakeUser) -> None:
    """A Coder PBKDF2 hash logs in, and is replaced by argon2id on that login."""
    user = await make_user("mia@corp.example", None)
    await client.app[keys.USERS].update(
        user.id, hashed_password=pbkdf2_hash("Pbkdf2-Imported!", bytes(range(16)))
    )
    resp = await client.post(
        LOGIN, json={"email": "mia@corp.example", "password": "Pbkdf2-Imported!"}
    )
    assert resp.status == 201
    stored = await client.app[keys.USERS].get(user.id)
    assert stored is not None and stored.hashed_password.startswith("$argon2id$")
    resp = await client.post(
        LOGIN, json={"email": "mia@corp.example", "password": "Pbkdf2-Imported!"}
    )
    assert resp.status == 201


async def test_weaker_argon2_hash_is_upgraded(client: Client, make_user: MakeUser) -> None:
    """An argon2 hash below the configured parameters is re-hashed on login."""
    import argon2

    user = await make_user("ned@corp.example", None)
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=32, parallelism=1).hash(STRONG)
    await client.app[keys.USERS].update(user.id, hashed_password=weak)
    resp = await client.post(LOGIN, json={"email": "ned@corp.example", "password": STRONG})
    assert resp.status == 201
    stored = await client.app[keys.USERS].get(user.id)
    assert stored is not None and stored.hashed_password != weak
    params = argon2.extract_parameters(stored.hashed_password)
    assert (params.memory_cost, params.time_cost) == (64, 1)


async def test_malformed_stored_hash_is_500_envelope(client: Client, make_user: MakeUser) -> None:
    """A stored hash in no known format answers 500 `Internal error.` (as Coder), no traceback."""
    user = await make_user("oli@corp.example", None)
    await client.app[keys.USERS].update(user.id, hashed_password="$md5$nope")
    resp = await client.post(LOGIN, json={"email": "oli@corp.example", "password": STRONG})
    assert resp.status == 500
    assert await resp.json() == {"message": "Internal error."}
