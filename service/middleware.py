"""The one middleware, `serve_request`: request context, the cross-origin guard, rate limits,
authentication and the one error path, in that order (see its docstring). One layer rather than
a chain of five: each layer is a coroutine frame on every request.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from service import keys
from service.api.responses import SESSION_COOKIE, json_response
from service.auth.identity import Actor
from service.auth.login import LoginClient
from service.auth.ratelimit import RateDecision, go_duration
from service.errors import INVALID_JSON, ApiError
from service.logs import REQUEST_ID
from service.settings import Settings
from service.store.redis import STORE_ERRORS

log = logging.getLogger("authsvc.access")

API_PREFIX: Final = "/api/v2/"
AUTHCHECK_ROUTE: Final = "/api/v2/authcheck"
RATE_WINDOW: Final = 60.0
# Coder's login rate-limit group (coderd.go): these share the stricter per-IP limit.
LOGIN_GROUP: Final = frozenset(
    {
        "/api/v2/users/login",
        "/api/v2/users/otp/request",
        "/api/v2/users/otp/change-password",
        "/api/v2/users/validate-password",
        "/api/v2/users/oidc/callback",
        "/api/v2/users/oauth2/github/callback",
    }
)
# Requests that leave an audit record: (method, route) -> event name. Any 429 does too.
AUDITED: Final = {
    ("POST", "/api/v2/users/login"): "login",
    ("POST", "/api/v2/users/logout"): "logout",
    ("POST", "/api/v2/users/otp/request"): "otp_request",
    ("POST", "/api/v2/users/otp/change-password"): "password_reset",
    ("POST", "/api/v2/users/{user}/convert-login"): "convert_login",
    ("GET", "/api/v2/users/oidc/callback"): "oidc_sign_in",
    ("GET", "/api/v2/users/oauth2/github/callback"): "github_sign_in",
}


def _audit_record(request: web.Request, event: str, route: str, status: int) -> dict[str, str]:
    """Time, event, outcome, user (if known), source address. Never a password or a code."""
    record = {
        "time": f"{time.time():.3f}",
        "event": event,
        "outcome": "success" if status < 400 else "failure",
        "status": str(status),
        "route": route,
        "ip": request[keys.CLIENT_IP],
        "request_id": request[keys.REQUEST_ID],
    }
    if keys.ACTOR in request:
        record["user_id"] = request[keys.ACTOR].user.id
    record.update(request.get(keys.AUDIT_FIELDS, {}))
    return record


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def client_ip(
    request: web.Request, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> str:
    """The peer address, or the X-Forwarded-For hop left of the trusted proxies."""
    remote = request.remote or "0.0.0.0"  # noqa: S104 - a label, not a bind address
    if not trusted:
        return _canonical_address(remote)
    try:
        addr = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    while hops and any(addr in net for net in trusted):
        try:
            addr = ipaddress.ip_address(hops.pop())
        except ValueError:
            break
    return str(addr)


@functools.lru_cache(maxsize=4096)
def _canonical_address(text: str) -> str:
    """An address as `ipaddress` writes it (the text itself if it is not one); cached: a
    replica sees the same few peers over and over."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


@functools.lru_cache(maxsize=4096)
def client_network(ip: str, ipv6_prefix_length: int) -> str:
    """What per-client budgets count by: the IPv4 address, or the IPv6 network it is in.

    Any IPv6 client owns at least a /64 and can rotate through its addresses at will; keying
    a budget by the full /128 would give it 2^64 budgets.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, ipv6_prefix_length), strict=False))
    return str(addr)


def _envelope(error: ApiError) -> web.Response:
    response = json_response(error.status, error.body())
    response.headers.update(error.headers)
    return response


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    """The one error path: ApiError, HTTP errors, store outages and bugs -> Coder envelope.
    A redirect (an HTTP exception below 400) is re-raised for aiohttp to send."""
    if isinstance(exc, ApiError):
        return _envelope(exc)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return _envelope(_too_large(request.app[keys.SETTINGS].max_body_size))
    if isinstance(exc, web.HTTPNotFound):
        return _envelope(ApiError(404, "Route not found."))
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return _envelope(
            ApiError(405, "Method not allowed.", headers={"Allow": exc.headers["Allow"]})
        )
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _envelope(ApiError(exc.status, exc.reason))
    if isinstance(exc, STORE_ERRORS):
        log.error("state store unavailable: %s", type(exc).__name__)
        return _envelope(
            ApiError(
                503,
                "The service is temporarily unavailable.",
                "The state store did not answer in time. Try again shortly.",
                headers={"Retry-After": "1"},
            )
        )
    log.error("unhandled error", exc_info=exc)
    return _envelope(
        ApiError(
            500,
            "An internal server error occurred.",
            f"request id {request[keys.REQUEST_ID]}",
        )
    )


SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


_DEFAULT_PORTS: Final = {"http": ":80", "https": ":443"}


def _origin_of(url: str) -> str:
    """scheme://host[:port], lower-cased, without the scheme's default port (as browsers send)."""
    parts = urlsplit(url.strip().lower())
    netloc = parts.netloc.removesuffix(_DEFAULT_PORTS.get(parts.scheme, "\x00"))
    return f"{parts.scheme}://{netloc}"


def trusted_origins(settings: Settings) -> frozenset[str]:
    """PUBLIC_URL's origin and every TRUSTED_ORIGINS entry, normalised."""
    return frozenset({_origin_of(settings.base_url), *map(_origin_of, settings.trusted_origins)})


def cross_origin_refusal(request: web.Request, trusted: frozenset[str]) -> str | None:
    """Why an unsafe request is refused as cross-origin, or None (Go 1.25's algorithm).

    Browsers say where a request comes from: `Sec-Fetch-Site` (all current ones) or at least
    `Origin`. A trusted Origin passes; `same-origin` and `none` (typed by the user) pass; any
    other `Sec-Fetch-Site` is refused, `same-site` included, since a sibling origin is not us.
    Without `Sec-Fetch-Site`, an Origin must match the request's own host. A request with
    neither header is not from a browser (curl, Coder's CLI, agents) and passes: CSRF needs
    a browser that attaches the victim's cookies.
    """
    origin = request.headers.get("Origin")
    if origin is not None and _origin_of(origin) in trusted:
        return None
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return f"Sec-Fetch-Site is {site!r} and Origin {origin!r} is not trusted."
    if origin is None:
        return None
    if urlsplit(origin.lower()).netloc == request.host.lower():
        return None
    return f"Origin {origin!r} is not this service's origin."


def _rate_limit_headers(decision: RateDecision) -> dict[str, str] | None:
    """The X-RateLimit-* headers of a decision (None when unlimited); 429 when refused."""
    if decision.limit < 0:
        return None
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(max(decision.remaining, 0)),
        "X-RateLimit-Reset": str(int(time.time() + decision.reset_after)),
    }
    if not decision.allowed:
        raise ApiError(
            429,
            f"You've been rate limited for sending more than {decision.limit} requests in "
            f"{go_duration(RATE_WINDOW)}.",
            headers={**headers, "Retry-After": str(decision.retry_after)},
        )
    return headers


def _too_large(limit: int) -> ApiError:
    return ApiError(413, INVALID_JSON, f"http: request body too large (limit {limit} bytes)")


def _body_limit(request: web.Request) -> int:
    settings = request.app[keys.SETTINGS]
    return settings.max_body_size if keys.ACTOR in request else settings.public_max_body_size


def arrived_body(request: web.Request) -> bytes | None:
    """The request body when all of it has arrived (a small one comes with the headers), read
    without waiting; None when more is still to come (`read_body` waits for it). 413 past
    the route's limit (see `read_body`), checked against Content-Length before anything is
    read and against the bytes themselves after."""
    limit = _body_limit(request)
    if (request.content_length or 0) > limit:
        raise _too_large(limit)
    content = request.content
    if not content.is_eof():
        return None
    body = content.read_nowait()
    if len(body) > limit:
        raise _too_large(limit)
    return body


async def read_body(request: web.Request) -> bytes:
    """The request body; 413 past the route's limit, checked before anything is parsed.

    Requests that are not authenticated (yet) get PUBLIC_MAX_BODY_SIZE: the public endpoints
    take a few short fields, and every byte an anonymous caller sends costs the service work.
    Handlers that require a session read their body only after it was verified, and get
    MAX_BODY_SIZE (an authcheck batch can be tens of KiB).
    """
    body = arrived_body(request)
    if body is not None:
        return body
    settings = request.app[keys.SETTINGS]
    limit = _body_limit(request)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.request_body_timeout):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        # A body trickled in byte by byte would hold the handler forever.
        raise ApiError(
            408,
            "The request body did not arrive in time.",
            f"No complete body within {settings.request_body_timeout:g} seconds.",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def login_client(request: web.Request, email: str) -> LoginClient:
    """The client of a password check: its network and its device cookie for `email`."""
    cookie = request.cookies.get(request.app[keys.DEVICES].name(email))
    return LoginClient(request[keys.CLIENT_NETWORK], cookie)


def session_token(request: web.Request) -> str:
    """The first non-empty token source, in Coder's order (spec §1.4)."""
    if token := request.cookies.get(SESSION_COOKIE, ""):
        return token
    if token := request.query.get(SESSION_COOKIE, ""):
        return token
    if token := request.headers.get("Coder-Session-Token", ""):
        return token
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and (token := auth[7:].strip()):
        return token
    return request.query.get("access_token", "").strip()


def _www_authenticate(request: web.Request, error: ApiError) -> str:
    # Coder says "has expired" when "expired" appears in the message or detail; its
    # signed-out message itself contains the word, so every signed-out 401 says so.
    expired = "expired" in error.message or "expired" in error.detail
    description = "The access token has expired" if expired else "The access token is invalid"
    kind = "insufficient_scope" if error.status == 403 else "invalid_token"
    base = request.app[keys.SETTINGS].base_url
    return (
        f'Bearer realm="coder", error="{kind}", error_description="{description}", '
        f'resource_metadata="{base}/.well-known/oauth-protected-resource"'
    )


async def current_actor(request: web.Request) -> Actor:
    """Authenticate the request once (cached on it). Raises ApiError 401."""
    if keys.ACTOR in request:
        return request[keys.ACTOR]
    token = session_token(request)
    try:
        if not token:
            raise ApiError(
                401,
                "You are signed out or your session has expired. Please sign in again to continue.",
                f'Cookie "{SESSION_COOKIE}" or query parameter must be provided.',
            )
        actor = await request.app[keys.AUTHENTICATOR].authenticate(token)
    except ApiError as exc:
        if exc.status in (401, 403):
            exc.headers = {**exc.headers, "WWW-Authenticate": _www_authenticate(request, exc)}
        raise
    request[keys.ACTOR] = actor
    return actor


_AUTHENTICATED = "__authsvc_requires_session__"


def authenticated(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Handler:
    """Mark a handler as requiring a session; `authenticate` enforces it."""
    setattr(handler, _AUTHENTICATED, True)
    return handler


@web.middleware
async def serve_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request, in one layer (one coroutine frame on authcheck's hot path), in this order:

    1. context: a request id (echoed as X-Request-Id), the client address;
    2. the cross-origin guard: an unsafe request a browser sends for another origin is
       refused (CSRF), before it is counted;
    3. rate limits, per IP and endpoint, shared by every replica (Coder's httprate
       KeyByEndpoint): the login group counted exactly in Redis on every request, the rest
       decided in the process and reconciled in the background (LocalFirstLimiter);
    4. authentication, for handlers marked @authenticated;
    5. the handler; anything raised in 2-5 becomes Coder's envelope (`_error_response`),
       with the rate-limit headers once they are known;
    6. one access-log line, the metrics and, for sign-in events and 429s, an audit record.
    """
    app = request.app
    settings = app[keys.SETTINGS]
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
    request[keys.REQUEST_ID] = request_id
    REQUEST_ID.set(request_id)  # every log line of this request carries it
    ip = request[keys.CLIENT_IP] = client_ip(request, settings.trusted_proxies)
    network = request[keys.CLIENT_NETWORK] = client_network(ip, settings.ipv6_prefix_length)
    started = time.perf_counter()
    status = 500
    try:
        limit_headers: dict[str, str] | None = None
        try:
            if request.method not in SAFE_METHODS:
                reason = cross_origin_refusal(request, app[keys.TRUSTED_ORIGINS])
                if reason is not None:
                    raise ApiError(403, "Cross-origin request refused.", reason)
            path = request.path
            if path.startswith(API_PREFIX):
                tag = f"ip|{network}|{path}"
                if path in LOGIN_GROUP:
                    limits = [
                        ("api", settings.api_rate_limit),
                        ("login", settings.login_rate_limit),
                    ]
                    decision = await app[keys.LIMITER].hit(tag, limits, RATE_WINDOW)
                else:
                    limiter = app[keys.API_LIMITER]
                    limit = settings.api_rate_limit
                    # None: the shared count must be fetched first (only near the limit).
                    decided = limiter.decide(tag, "api", limit, RATE_WINDOW)
                    decision = (
                        decided
                        if decided is not None
                        else await limiter.hit(tag, "api", limit, RATE_WINDOW)
                    )
                limit_headers = _rate_limit_headers(decision)
            if getattr(request.match_info.handler, _AUTHENTICATED, False):
                token = session_token(request)
                actor = app[keys.AUTHENTICATOR].cached(token) if token else None
                if actor is not None:
                    request[keys.ACTOR] = actor  # verified within SESSION_CACHE_TTL
                else:
                    await current_actor(request)
            response = await handler(request)
            if limit_headers is not None:
                response.headers.update(limit_headers)
        except Exception as exc:
            if limit_headers is not None and isinstance(exc, ApiError):
                exc.headers = {**limit_headers, **exc.headers}
            response = _error_response(request, exc)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        if keys.POLICIES in app:
            response.headers["X-Authz-Policy-Version"] = app[keys.POLICIES].current.version
        return response
    except web.HTTPException as exc:  # a redirect, which aiohttp sends
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        app[keys.METRICS].observe(route, request.method, status, elapsed)
        event = AUDITED.get((request.method, route), "")
        if status == 429:
            event = "rate_limited"  # whatever was attempted (the route says what)
        if event and keys.AUDIT in app:
            await app[keys.AUDIT].append(_audit_record(request, event, route, status))
        # Never the query string: it may carry a session token (coder_session_token=...).
        # An authcheck that succeeded is logged at DEBUG, as Coder's request logger logs
        # every success: it is the call every page and service makes, at rates where a line
        # each costs a good part of the request (measured in bench/); the metrics count them
        # all. Every other request, and any authcheck that failed, is logged at INFO.
        level = logging.DEBUG if status < 400 and route == AUTHCHECK_ROUTE else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s %d %.1fms",
                request.method,
                request.path,
                status,
                elapsed * 1000,
                extra={"client_ip": ip},
            )
