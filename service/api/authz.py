"""POST /api/v2/authcheck."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.binding import bind_body
from service.api.models import AuthorizationRequest
from service.api.responses import json_response
from service.authz.authcheck import Caller, Check
from service.middleware import authenticated, read_body


@authenticated
async def authcheck(request: web.Request) -> web.StreamResponse:
    """Answer a batch of "may I do ACTION to OBJECT?" questions (spec §2.2)."""
    body = await bind_body(AuthorizationRequest, await read_body(request))
    actor = request[keys.ACTOR]
    checks = {
        key: Check(
            action=c.action,
            resource_type=c.object.resource_type,
            owner_id=c.object.owner_id,
            organization_id=c.object.organization_id,
            resource_id=c.object.resource_id,
            any_org=c.object.any_org,
        )
        for key, c in body.checks.items()
    }
    caller = Caller(actor.user.id, actor.roles, actor.scope)
    answers = await request.app[keys.AUTHCHECK].answer(caller, checks)
    allowed = sum(answers.values())
    decisions = request.app[keys.METRICS].authz
    decisions.labels("allow").inc(allowed)
    decisions.labels("deny").inc(len(answers) - allowed)
    return json_response(200, answers)
