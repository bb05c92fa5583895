"""Public, stateless endpoints: the scope catalog and liveness."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.responses import json_response
from service.errors import ApiError
from service.metrics import CONTENT_TYPE
from service.store.redis import STORE_ERRORS


async def scopes(request: web.Request) -> web.StreamResponse:
    """GET /auth/scopes (spec §2.1)."""
    return json_response(200, {"external": list(request.app[keys.SCOPES].external)})


async def healthz(request: web.Request) -> web.StreamResponse:
    """GET /healthz: the process is up (no dependency checks)."""
    return json_response(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.StreamResponse:
    """GET /readyz: 200 when Redis answers and a policy is loaded, else 503."""
    app = request.app
    try:
        await app[keys.REDIS].ping()
    except STORE_ERRORS:
        raise ApiError(503, "Not ready.", "The state store is unreachable.") from None
    version = app[keys.POLICIES].current.version
    return json_response(200, {"status": "ready", "policy_version": version})


async def metrics(request: web.Request) -> web.StreamResponse:
    """GET /metrics: Prometheus exposition."""
    app = request.app
    m = app[keys.METRICS]
    m.set_policy(app[keys.POLICIES].current.version)
    m.delivery_failures.set(app[keys.OUTBOX_WORKER].failures)
    try:
        stats = await app[keys.OUTBOX].stats()
    except STORE_ERRORS:
        pass  # the gauges keep their last values; /readyz reports the outage
    else:
        m.outbox_depth.set(stats["depth"])
        m.outbox_dead.set(stats["dead"])
    return web.Response(body=m.render(), headers={"Content-Type": CONTENT_TYPE})
