"""POST /api/v2/authcheck."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.binding import conform_body
from service.api.models import AuthorizationRequest
from service.api.responses import json_response
from service.authz.authcheck import Caller, Check
from service.middleware import authenticated, read_body


@authenticated
async def authcheck(request: web.Request) -> web.StreamResponse:
    """Answer a batch of "may I do ACTION to OBJECT?" questions (spec §2.2)."""
    # Plain data, type-checked as Go decodes it (the model has no validation tags to run).
    body = await conform_body(AuthorizationRequest, await read_body(request))
    actor = request[keys.ACTOR]
    checks = {}
    for key, c in body.get("checks", {}).items():
        obj = c.get("object", {})
        checks[key] = Check(
            action=c.get("action", ""),
            resource_type=obj.get("resource_type", ""),
            owner_id=obj.get("owner_id", ""),
            organization_id=obj.get("organization_id", ""),
            resource_id=obj.get("resource_id", ""),
            any_org=obj.get("any_org", False),
        )
    caller = Caller(actor.user.id, actor.roles, actor.scope)
    answers = await request.app[keys.AUTHCHECK].answer(caller, checks)
    allowed = sum(answers.values())
    metrics = request.app[keys.METRICS]
    metrics.authz_allow.inc(allowed)
    metrics.authz_deny.inc(len(answers) - allowed)
    return json_response(200, answers)
