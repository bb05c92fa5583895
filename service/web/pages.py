"""Page handlers: server-rendered HTML, one stylesheet, one script, strict security headers."""

from __future__ import annotations

import html
from importlib import resources
from string import Template
from typing import Final

from aiohttp import web

from service import keys
from service.api.responses import safe_redirect
from service.errors import ApiError
from service.middleware import current_actor
from service.settings import Settings

# No inline script or style anywhere, so the policy can forbid both.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    # The reset link carries the passcode: never send it onwards in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_STATIC_TYPES: Final = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _load(kind: str, name: str) -> str:
    return resources.files("service.web").joinpath(kind, name).read_text(encoding="utf-8")


class Pages:
    """Renders the pages; templates and static files are read once."""

    def __init__(self, settings: Settings) -> None:
        self._product = settings.product_name
        self._base = Template(_load("templates", "base.html"))
        self._bodies = {
            name: Template(_load("templates", f"{name}.html"))
            for name in ("login", "home", "reset", "change")
        }
        self._static = {
            name: _load("static", name).encode() for name in ("app.css", "app.js", "favicon.svg")
        }
        self._static["theme.css"] = (
            ":root {"
            f" --brand: {settings.brand_color}; --brand-text: {settings.brand_text_color};"
            f" --background: {settings.background_color}; --surface: {settings.surface_color};"
            f" --text: {settings.text_color}; --muted: {settings.muted_color};"
            f" --border: {settings.muted_color}; --danger: {settings.danger_color}; }}\n"
        ).encode()

    def render(self, page: str, title: str, status: int = 200, **values: str) -> web.Response:
        """A page with every value HTML-escaped."""
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        content = self._bodies[page].safe_substitute(escaped)
        body = self._base.substitute(
            title=html.escape(title), product=html.escape(self._product), page=page, content=content
        )
        response = web.Response(status=status, text=body, content_type="text/html", charset="utf-8")
        response.headers.update(SECURITY_HEADERS)
        return response

    def static(self, name: str) -> web.Response:
        """/static/<name>, or 404."""
        data = self._static.get(name)
        if data is None:
            raise web.HTTPNotFound()
        suffix = name[name.rfind(".") :]
        response = web.Response(body=data, content_type=_STATIC_TYPES[suffix], charset="utf-8")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "public, max-age=300"
        return response


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login."""
    done = request.query.get("reset") == "done"
    return request.app[keys.PAGES].render(
        "login",
        "Sign in",
        redirect=safe_redirect(request.query.get("redirect", "/")),
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
