"""Handlers of Coder's API-token endpoints (thin: auth/tokens.py decides).

POST/GET /users/{user}/keys/tokens, GET /users/{user}/keys/tokens/tokenconfig,
GET /users/{user}/keys/tokens/{keyname}, GET/DELETE /users/{user}/keys/{keyid},
POST /users/{user}/keys.
"""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.admin import operator
from service.api.binding import bind_body
from service.api.models import CreateTokenRequest
from service.api.responses import json_response
from service.auth.admin import Operator
from service.auth.tokens import NANOSECONDS, NewToken, TokenService, parse_go_bool, token_api
from service.auth.users import User
from service.middleware import authenticated, read_body


async def _user(request: web.Request) -> tuple[TokenService, Operator, User]:
    op = operator(request)
    user = await request.app[keys.ADMIN].resolve_user(op, request.match_info["user"])
    return request.app[keys.TOKENS], op, user


@authenticated
async def create_token(request: web.Request) -> web.StreamResponse:
    """POST /users/{user}/keys/tokens: 201 {"key": ...}, the only time the key is shown."""
    tokens, op, user = await _user(request)
    body = await bind_body(CreateTokenRequest, await read_body(request))
    key = await tokens.create(
        op,
        user,
        NewToken(
            name=body.token_name,
            lifetime_ns=body.lifetime,
            scope=body.scope,
            scopes=body.scopes,
            allow_list=body.allow_list,
        ),
    )
    return json_response(201, {"key": key})


@authenticated
async def create_session_key(request: web.Request) -> web.StreamResponse:
    """POST /users/{user}/keys: 201 {"key": ...} (a session-like key for the CLI)."""
    tokens, op, user = await _user(request)
    key = await tokens.create_session_key(op, user, request[keys.CLIENT_IP])
    return json_response(201, {"key": key})


@authenticated
async def list_tokens(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/keys/tokens[?include_all=true]: []codersdk.APIKeyWithOwner."""
    tokens, op, user = await _user(request)
    include_all = parse_go_bool(request.query.get("include_all", ""))
    listed = await tokens.list_tokens(op, user, include_all)
    return json_response(200, [{**token_api(t), "username": name} for t, name in listed])


@authenticated
async def token_config(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/keys/tokens/tokenconfig: codersdk.TokenConfig (nanoseconds)."""
    tokens, _, _ = await _user(request)
    return json_response(200, {"max_token_lifetime": int(tokens.max_lifetime * NANOSECONDS)})


@authenticated
async def token_by_name(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/keys/tokens/{keyname}: codersdk.APIKey."""
    tokens, op, user = await _user(request)
    return json_response(200, token_api(await tokens.by_name(op, user, request.match_info["name"])))


@authenticated
async def key_by_id(request: web.Request) -> web.StreamResponse:
    """GET /users/{user}/keys/{keyid}: codersdk.APIKey."""
    tokens, op, user = await _user(request)
    return json_response(200, token_api(await tokens.by_id(op, user, request.match_info["keyid"])))


@authenticated
async def delete_key(request: web.Request) -> web.StreamResponse:
    """DELETE /users/{user}/keys/{keyid}: 204."""
    tokens, op, user = await _user(request)
    await tokens.delete(op, user, request.match_info["keyid"])
    return web.Response(status=204)
