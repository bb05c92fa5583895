"""Public, stateless endpoints: the scope catalog and liveness."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.responses import json_response


async def scopes(request: web.Request) -> web.StreamResponse:
    """GET /auth/scopes (spec §2.1)."""
    return json_response(200, {"external": list(request.app[keys.SCOPES].external)})


async def healthz(request: web.Request) -> web.StreamResponse:
    """GET /healthz: the process is up (no dependency checks)."""
    return json_response(200, {"status": "ok"})
