"""Handlers under /api/v2/users: login, logout, me, first user, validate-password."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.binding import bind_body
from service.api.models import (
    CreateFirstUserRequest,
    LoginWithPasswordRequest,
    ValidateUserPasswordRequest,
)
from service.api.responses import DEVICE_COOKIE_PATH, SESSION_COOKIE, go_cookie, json_response
from service.auth.admin import unknown_user, user_obj
from service.auth.policy import check_password
from service.auth.users import OWNER, NewUser, UserExists
from service.errors import ApiError, Validation
from service.middleware import authenticated, current_actor, login_client, read_body


async def login(request: web.Request) -> web.StreamResponse:
    """POST /users/login (spec §2.3)."""
    body = await bind_body(LoginWithPasswordRequest, await read_body(request))
    request[keys.AUDIT_FIELDS] = {"email": body.email}
    login = request.app[keys.LOGIN]
    result = await login.login(
        body.email, body.password, request[keys.CLIENT_IP], login_client(request, body.email)
    )
    request[keys.AUDIT_FIELDS]["user_id"] = result.user_id
    response = json_response(201, {"session_token": result.token})
    secure = request.app[keys.SETTINGS].cookies_secure
    # No Expires/Max-Age: a browser-session cookie, as Coder sets it.
    response.headers.add("Set-Cookie", go_cookie(SESSION_COOKIE, result.token, secure=secure))
    if result.device is not None:
        response.headers.add(
            "Set-Cookie",
            go_cookie(
                result.device.name,
                result.device.value,
                path=DEVICE_COOKIE_PATH,
                max_age=result.device.max_age,
                secure=secure,
                same_site="Strict",
            ),
        )
    return response


@authenticated
async def logout(request: web.Request) -> web.StreamResponse:
    """POST /users/logout: delete the presented session and clear the cookie."""
    actor = request[keys.ACTOR]
    await request.app[keys.SESSIONS].revoke(actor.session)
    response = json_response(200, {"message": "Logged out!"})
    response.headers.add(
        "Set-Cookie",
        go_cookie(SESSION_COOKIE, "", max_age=0, http_only=False, same_site=None),
    )
    return response


@authenticated
async def me(request: web.Request) -> web.StreamResponse:
    """GET /users/me (a token whose scope does not cover reading its user gets Coder's
    unknown-user answer, as Coder's user lookup does)."""
    actor = request[keys.ACTOR]
    if actor.scope is not None and not actor.scope.allows("read", user_obj(actor.user.id)):
        raise unknown_user("me")
    return json_response(200, actor.user.to_api())


async def first_user_status(request: web.Request) -> web.StreamResponse:
    """GET /users/first: 200 once the first user exists, else 404."""
    if await request.app[keys.USERS].count():
        return json_response(200, {"message": "The initial user has already been created!"})
    return json_response(404, {"message": "The initial user has not been created!"})


_ALREADY = ApiError(409, "The initial user has already been created.")


async def create_first_user(request: web.Request) -> web.StreamResponse:
    """POST /users/first: the first user of an empty deployment becomes owner."""
    body = await bind_body(CreateFirstUserRequest, await read_body(request))
    app = request.app
    if await app[keys.USERS].count():
        raise _ALREADY
    if problem := check_password(body.password):
        raise ApiError(
            400, "Password not strong enough!", validations=[Validation("password", problem)]
        )
    hashed = await app[keys.PASSWORDS].hash(body.password)
    try:
        user = await app[keys.DIRECTORY].create(
            NewUser(
                email=body.email,
                username=body.username,
                name=body.name,
                hashed_password=hashed,
                roles=(OWNER,),
            ),
            only_if_empty=True,  # atomic: two racing requests cannot both become owner
        )
    except UserExists:
        raise _ALREADY from None
    if user is None:
        raise _ALREADY
    return json_response(201, {"user_id": user.id, "organization_id": next(iter(user.orgs))})


async def validate_password(request: web.Request) -> web.StreamResponse:
    """POST /users/validate-password (spec §2.6); a session is required unless configured."""
    if not request.app[keys.SETTINGS].validate_password_anonymous:
        await current_actor(request)
    body = await bind_body(ValidateUserPasswordRequest, await read_body(request))
    problem = check_password(body.password)
    return json_response(200, {"valid": problem is None, "details": problem or ""})
