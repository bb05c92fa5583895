"""POST /api/v2/authcheck."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import gojson, keys
from service.api.binding import conform_body
from service.api.models import AuthorizationRequest
from service.api.responses import flags_response
from service.authz.authcheck import Caller, Check
from service.middleware import authenticated, read_body

_NO_OBJECT: dict[str, Any] = {}


def _well_typed_checks(raw: Any) -> dict[str, Check] | None:
    """The batch as Checks in one pass when every field has its Go type (nulls read as zero
    values, unknown keys ignored, as Go decodes); None when anything does not, so that the
    binder answers with Go's error.

    Every request runs this over up to hundreds of checks, so it is written out field by
    field (no helper calls or generators per field: measured in bench/, it cost as much as
    validating the batch with pydantic).
    """
    if not isinstance(raw, dict):
        return None
    batch = raw.get("checks")
    if batch is None:
        return {}
    if not isinstance(batch, dict):
        return None
    out: dict[str, Check] = {}
    for key, check in batch.items():
        if check is None:
            check = _NO_OBJECT
        elif not isinstance(check, dict):
            return None
        action = check.get("action")
        if action is None:
            action = ""
        elif type(action) is not str:
            return None
        obj = check.get("object")
        if obj is None:
            obj = _NO_OBJECT
        elif not isinstance(obj, dict):
            return None
        resource_type = obj.get("resource_type")
        if resource_type is None:
            resource_type = ""
        elif type(resource_type) is not str:
            return None
        owner_id = obj.get("owner_id")
        if owner_id is None:
            owner_id = ""
        elif type(owner_id) is not str:
            return None
        organization_id = obj.get("organization_id")
        if organization_id is None:
            organization_id = ""
        elif type(organization_id) is not str:
            return None
        resource_id = obj.get("resource_id")
        if resource_id is None:
            resource_id = ""
        elif type(resource_id) is not str:
            return None
        any_org = obj.get("any_org")
        if any_org is None:
            any_org = False
        elif type(any_org) is not bool:
            return None
        out[key] = Check(action, resource_type, owner_id, organization_id, resource_id, any_org)
    return out


@authenticated
async def authcheck(request: web.Request) -> web.StreamResponse:
    """Answer a batch of "may I do ACTION to OBJECT?" questions (spec §2.2)."""
    raw = await read_body(request)
    ok, decoded = gojson.decode_fast(raw)
    checks = _well_typed_checks(decoded) if ok else None
    if checks is None:
        # Something is not of its Go type (or not JSON): the binder says what, as Go would.
        body = await conform_body(AuthorizationRequest, raw)
        checks = _well_typed_checks(body)
        if checks is None:  # the binder's output always has its Go types
            raise RuntimeError("authcheck: the bound batch was not well typed")
    actor = request[keys.ACTOR]
    caller = Caller(actor.user.id, actor.roles, actor.scope)
    checker = request.app[keys.AUTHCHECK]
    answers = checker.answer_now(caller, checks)
    if answers is None:  # it names stored objects
        answers = await checker.answer_in_full(caller, checks)
    allowed = sum(answers.values())
    metrics = request.app[keys.METRICS]
    metrics.authz_allow.inc(allowed)
    metrics.authz_deny.inc(len(answers) - allowed)
    return flags_response(answers)
