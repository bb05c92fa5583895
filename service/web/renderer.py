"""Rendering the pages: templates and static files read once, strict security headers."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from importlib import resources
from string import Template
from typing import Final
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from service.settings import Settings

# No inline script or style anywhere, so the policy can forbid both. img-src also allows the
# origin of OIDC_ICON_URL when one is set.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{icons}; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


class Pages:
    """Renders the pages; templates and static files are read once."""

    def __init__(self, settings: Settings) -> None:
        self._product = settings.product_name
        icon_origin = _origin(settings.oidc_icon_url)
        self._headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": CSP.format(icons=f" {icon_origin}" if icon_origin else ""),
        }
        # The providers the login page offers, as Coder's login page does: (path, label, icon).
        self._providers: list[tuple[str, str, str]] = []
        if settings.oidc_issuer_url and settings.oidc_client_id:
            self._providers.append(
                ("oidc/callback", settings.oidc_sign_in_text, settings.oidc_icon_url)
            )
        if settings.github_client_id:
            self._providers.append(("oauth2/github/callback", "GitHub", "/static/github.svg"))
        self._base = Template(_load("templates", "base.html"))
        self._bodies = {
            name: Template(_load("templates", f"{name}.html"))
            for name in ("login", "home", "reset", "change", "tokens")
        }
        self._static = {
            name: _load("static", name).encode()
            for name in ("app.css", "app.js", "favicon.svg", "github.svg")
        }
        self._static["theme.css"] = (
            ":root {"
            f" --brand: {settings.brand_color}; --brand-text: {settings.brand_text_color};"
            f" --background: {settings.background_color}; --surface: {settings.surface_color};"
            f" --text: {settings.text_color}; --muted: {settings.muted_color};"
            f" --border: {settings.muted_color}; --danger: {settings.danger_color}; }}\n"
        ).encode()

    def provider_buttons(self, redirect: str) -> str:
        """The "Sign in with ..." links of the configured providers (HTML, escaped here)."""
        links = []
        for path, label, icon in self._providers:
            href = f"/api/v2/users/{path}?{urlencode({'redirect': redirect})}"
            image = f'<img src="{html.escape(icon)}" alt="" width="20" height="20">' if icon else ""
            links.append(
                f'<a class="provider" href="{html.escape(href)}">{image}'
                f"<span>Sign in with {html.escape(label)}</span></a>"
            )
        if not links:
            return ""
        return '<div class="providers">' + "".join(links) + '</div><p class="or">or</p>'

    def scope_checkboxes(self, names: Sequence[str]) -> str:
        """One labelled checkbox per scope of the catalog (HTML, escaped here)."""
        return "".join(
            f'<label><input type="checkbox" name="scope" value="{html.escape(n, quote=True)}">'
            f"<span>{html.escape(n)}</span></label>"
            for n in names
        )

    @staticmethod
    def lifetime_options(max_lifetime: float, default: float) -> str:
        """The token lifetimes the page offers (seconds), those allowed by the maximum."""
        days = sorted({1, 7, 30, 90, 365, round(default / 86400)} - {0})
        choices = [d * 86400 for d in days if d * 86400 <= max_lifetime] or [int(max_lifetime)]
        return "".join(
            f'<option value="{c}"{" selected" if c == default else ""}>'
            f"{c // 86400} day{'s' if c // 86400 != 1 else ''}</option>"
            if c >= 86400
            else f'<option value="{c}">{c} seconds</option>'
            for c in choices
        )

    def render(
        self,
        page: str,
        title: str,
        status: int = 200,
        markup: str = "",
        markups: Mapping[str, str] | None = None,
        **values: str,
    ) -> web.Response:
        """A page with every value HTML-escaped (`markup`, `markups`: HTML built by this
        class)."""
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        escaped["markup"] = markup
        escaped.update(markups or {})
        content = self._bodies[page].safe_substitute(escaped)
        body = self._base.substitute(
            title=html.escape(title), product=html.escape(self._product), page=page, content=content
        )
        response = web.Response(status=status, text=body, content_type="text/html", charset="utf-8")
        response.headers.update(self._headers)
        return response

    def static(self, name: str) -> web.Response:
        """/static/<name>, or 404."""
        data = self._static.get(name)
        if data is None:
            raise web.HTTPNotFound()
        suffix = name[name.rfind(".") :]
        response = web.Response(body=data, content_type=_STATIC_TYPES[suffix], charset="utf-8")
        response.headers.update(self._headers)
        response.headers["Cache-Control"] = "public, max-age=300"
        return response
