"""POST /api/v2/authcheck."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import gojson, keys
from service.api.binding import conform_body
from service.api.models import AuthorizationRequest
from service.api.responses import json_response
from service.authz.authcheck import Caller, Check
from service.middleware import authenticated, read_body

_OBJECT_STRINGS = ("resource_type", "owner_id", "organization_id", "resource_id")


def _or_zero(value: Any, zero: Any) -> Any:
    """Go leaves a field it reads as null (or does not find) at its zero value."""
    return zero if value is None else value


def _well_typed_checks(raw: Any) -> dict[str, Check] | None:
    """The batch as Checks in one pass when every field has its Go type (nulls read as zero
    values, unknown keys ignored, as Go decodes); None when anything does not, so that the
    binder answers with Go's error."""
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
            check = {}
        elif not isinstance(check, dict):
            return None
        action = _or_zero(check.get("action"), "")
        obj = _or_zero(check.get("object"), {})
        if type(action) is not str or not isinstance(obj, dict):
            return None
        fields = [_or_zero(obj.get(name), "") for name in _OBJECT_STRINGS]
        any_org = _or_zero(obj.get("any_org"), False)
        if any(type(v) is not str for v in fields) or type(any_org) is not bool:
            return None
        out[key] = Check(action, fields[0], fields[1], fields[2], fields[3], any_org)
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
    answers = await request.app[keys.AUTHCHECK].answer(caller, checks)
    allowed = sum(answers.values())
    metrics = request.app[keys.METRICS]
    metrics.authz_allow.inc(allowed)
    metrics.authz_deny.inc(len(answers) - allowed)
    return json_response(200, answers)
