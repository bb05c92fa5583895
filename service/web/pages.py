"""Page handlers: server-rendered HTML, one stylesheet, one script (rendered by `renderer`)."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.responses import safe_redirect
from service.errors import ApiError
from service.middleware import current_actor


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login."""
    done = request.query.get("reset") == "done"
    pages = request.app[keys.PAGES]
    redirect = safe_redirect(request.query.get("redirect", "/"))
    return pages.render(
        "login",
        "Sign in",
        markup=pages.provider_buttons(redirect),
        redirect=redirect,
        notice="Your password was changed. Sign in with your new password." if done else "",
        notice_hidden="" if done else "hidden",
    )


async def home_page(request: web.Request) -> web.StreamResponse:
    """GET /: who is signed in, with a sign-out button; else to /login."""
    try:
        actor = await current_actor(request)
    except ApiError:
        raise web.HTTPFound("/login") from None
    return request.app[keys.PAGES].render(
        "home", "You are signed in", username=actor.user.username, email=actor.user.email
    )


async def tokens_page(request: web.Request) -> web.StreamResponse:
    """GET /settings/tokens: the signed-in user's API tokens; else to /login and back."""
    try:
        actor = await current_actor(request)
    except ApiError:
        raise web.HTTPFound("/login?redirect=/settings/tokens") from None
    pages = request.app[keys.PAGES]
    settings = request.app[keys.SETTINGS]
    return pages.render(
        "tokens",
        "API tokens",
        markup=pages.scope_checkboxes(request.app[keys.SCOPES].external),
        markups={
            "lifetimes": pages.lifetime_options(
                settings.max_token_lifetime, settings.default_token_lifetime
            )
        },
        username=actor.user.username,
    )


async def reset_page(request: web.Request) -> web.StreamResponse:
    """GET /reset-password."""
    return request.app[keys.PAGES].render("reset", "Reset your password")


async def change_page(request: web.Request) -> web.StreamResponse:
    """GET /reset-password/change?otp=...&email=... (the link from the reset mail)."""
    otp, email = request.query.get("otp", ""), request.query.get("email", "")
    if not otp or not email:
        return request.app[keys.PAGES].render(
            "reset", "This link is incomplete. Request a new one.", status=400
        )
    return request.app[keys.PAGES].render("change", "Choose a new password", otp=otp, email=email)


async def favicon(request: web.Request) -> web.StreamResponse:
    """GET /favicon.ico: browsers ask for it whatever the page declares."""
    return request.app[keys.PAGES].static("favicon.svg")


async def static_file(request: web.Request) -> web.StreamResponse:
    """GET /static/{name}."""
    return request.app[keys.PAGES].static(request.match_info["name"])
