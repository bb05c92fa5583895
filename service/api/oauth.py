"""convert-login and the OIDC / GitHub sign-in callbacks (spec §2.7 and §6)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from service import keys
from service.api.binding import bind_body
from service.api.models import ConvertLoginRequest
from service.api.responses import SESSION_COOKIE, go_cookie, json_response, safe_redirect
from service.auth.admin import unknown_user, user_obj
from service.auth.convert import CONVERT_COOKIE, is_conversion
from service.auth.signin import IdentityProvider
from service.clock import rfc3339
from service.errors import ApiError, forbidden
from service.middleware import authenticated, login_client, read_body, session_token

STATE_COOKIE = "oauth_state"
REDIRECT_COOKIE = "oauth_redirect"
# A secret only the browser that started a flow holds; the flow record keeps its hash.
BINDING_COOKIE = "oauth_binding"
FLOW_KIND = "oauth-flow"
FLOW_TTL = 600


def _http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


@authenticated
async def convert_login(request: web.Request) -> web.StreamResponse:
    """POST /users/{user}/convert-login."""
    ref = request.match_info.get("user", "")
    actor = request[keys.ACTOR]
    if not ref:
        raise ApiError(400, '"user" must be provided.')
    target = actor.user if ref == "me" else await request.app[keys.DIRECTORY].by_param(ref)
    if target is None:
        raise unknown_user(ref)
    if actor.scope is not None:
        # A token converts a login only if its scope covers the user's personal settings.
        if not actor.scope.allows("read", user_obj(target.id)):
            raise unknown_user(ref)
        if not actor.scope.allows("update_personal", user_obj(target.id)):
            raise forbidden()
    body = await bind_body(ConvertLoginRequest, await read_body(request))
    started = await request.app[keys.CONVERSION].start(
        target, body.to_type, body.password, login_client(request, target.email)
    )
    response = json_response(
        201,
        {
            "state_string": started.state,
            "expires_at": rfc3339(started.expires_at),
            "to_type": started.to_type,
            "user_id": started.user_id,
        },
    )
    secure = request.app[keys.SETTINGS].cookies_secure
    response.headers.add(
        "Set-Cookie",
        go_cookie(
            CONVERT_COOKIE, started.cookie, expires=_http_date(started.expires_at), secure=secure
        ),
    )
    return response


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


async def _callback(request: web.Request, provider: IdentityProvider | None) -> web.StreamResponse:
    if provider is None:
        raise ApiError(400, "The oauth2 method requested is not configured!")  # Coder's words
    app = request.app
    settings = app[keys.SETTINGS]
    secure = settings.cookies_secure
    states = app[keys.ONE_TIME]
    query = request.query
    if "error" in query:
        raise ApiError(
            400,
            "The identity provider refused the sign-in.",
            query.get("error_description", query["error"]),
        )
    if "code" not in query:
        # Start: convert-login's state is used as the OAuth state (Coder's oidc_merge_state),
        # but only this browser's own live conversion; anything else gets a fresh state.
        state = query.get("oidc_merge_state", "")
        if state:
            await app[keys.CONVERSION].check_merge_state(state, request.cookies.get(CONVERT_COOKIE))
        else:
            state = secrets.token_urlsafe(24)
        redirect = safe_redirect(query.get("redirect", "/"))
        verifier, challenge = _pkce()
        nonce = secrets.token_urlsafe(16)
        binding = secrets.token_urlsafe(32)
        record = {
            "verifier": verifier,
            "nonce": nonce,
            "redirect": redirect,
            "binding": _digest(binding),
        }
        if not await states.put(FLOW_KIND, state, record, FLOW_TTL):
            # Never overwrite a live flow (a replayed merge state, or a second tab).
            raise ApiError(409, "A sign-in with this state is already in progress.")
        url = await provider.authorize_url(state, challenge, nonce)
        response = web.Response(status=307, headers={"Location": url})
        for name, value in (
            (STATE_COOKIE, state),
            (REDIRECT_COOKIE, redirect),
            (BINDING_COOKIE, binding),
        ):
            response.headers.add(
                "Set-Cookie", go_cookie(name, value, max_age=FLOW_TTL, secure=secure)
            )
        return response
    state = query.get("state", "")
    cookie_state = request.cookies.get(STATE_COOKIE, "")
    if not cookie_state:
        raise ApiError(401, f'Cookie "{STATE_COOKIE}" must be provided.')
    if not secrets.compare_digest(cookie_state.encode(), state.encode()):
        raise ApiError(401, "State mismatched.")
    flow = await states.take(FLOW_KIND, state)
    if flow is None:
        raise ApiError(401, "The sign-in attempt expired or was already used. Please try again.")
    binding = request.cookies.get(BINDING_COOKIE, "")
    if not binding or not secrets.compare_digest(_digest(binding), flow.get("binding", "")):
        raise ApiError(401, "This sign-in was not started in this browser. Please try again.")
    identity = await provider.exchange(query["code"], flow["verifier"], flow["nonce"])
    outcome = await app[keys.SIGNIN].complete(
        identity,
        state,
        request.cookies.get(CONVERT_COOKIE),
        session_token(request),
        request[keys.CLIENT_IP],
    )
    response = web.Response(status=307, headers={"Location": flow.get("redirect", "/")})
    for name in (STATE_COOKIE, REDIRECT_COOKIE, BINDING_COOKIE):
        response.headers.add("Set-Cookie", go_cookie(name, "", max_age=0, secure=secure))
    if is_conversion(state):
        response.headers.add("Set-Cookie", go_cookie(CONVERT_COOKIE, "", max_age=0, secure=secure))
    if outcome.session_token:
        response.headers.add(
            "Set-Cookie", go_cookie(SESSION_COOKIE, outcome.session_token, secure=secure)
        )
    elif outcome.signed_out:
        response.headers.add("Set-Cookie", go_cookie(SESSION_COOKIE, "", max_age=0, secure=secure))
    return response


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    """GET /users/oidc/callback: starts and finishes OIDC sign-in."""
    return await _callback(request, request.app[keys.PROVIDERS].get("oidc"))


async def github_callback(request: web.Request) -> web.StreamResponse:
    """GET /users/oauth2/github/callback: starts and finishes GitHub sign-in."""
    return await _callback(request, request.app[keys.PROVIDERS].get("github"))
