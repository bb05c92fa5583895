"""Building responses the way Coder's Go server writes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from service import gojson

SESSION_COOKIE = "coder_session_token"
# Device cookies are sent only where a password is checked (login and convert-login).
DEVICE_COOKIE_PATH = "/api/v2/users"


def json_response(status: int, body: Mapping[str, Any] | list[Any]) -> web.Response:
    """`application/json; charset=utf-8`, Go-escaped, newline-terminated."""
    return web.Response(
        status=status, body=gojson.encode(body), content_type="application/json", charset="utf-8"
    )


def flags_response(answers: Mapping[str, bool]) -> web.Response:
    """`json_response(200, answers)` for an object of booleans, encoded the fast way."""
    return web.Response(
        status=200,
        body=gojson.encode_flags(answers),
        content_type="application/json",
        charset="utf-8",
    )


def safe_redirect(target: str) -> str:
    """The one redirect check: a same-origin path is followed, anything else becomes "/".

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    "/\t/evil.example" and "/\\evil.example" are "//evil.example" to them: any control
    character, whitespace or backslash refuses the target outright. What remains must parse
    as a path with no scheme and no host. (static/app.js applies the same rule in the page.)
    """
    if not target.startswith("/") or target.startswith("//") or len(target) > 2048:
        return "/"
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return "/"
    return target


def go_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    expires: str | None = None,
    http_only: bool = True,
    secure: bool = False,
    same_site: str | None = "Lax",
    path: str = "/",
) -> str:
    """A Set-Cookie value with Go's attribute order (Path, Expires, Max-Age, HttpOnly, ...)."""
    parts = [f"{name}={value}", f"Path={path}"]
    if expires is not None:
        parts.append(f"Expires={expires}")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if same_site:
        parts.append(f"SameSite={same_site}")
    return "; ".join(parts)
