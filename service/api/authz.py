"""POST /api/v2/authcheck."""

from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.batches import well_typed_checks
from service.api.binding import conform_body
from service.api.models import AuthorizationRequest
from service.api.responses import flags_response
from service.middleware import arrived_body, authenticated, read_body


@authenticated
async def authcheck(request: web.Request) -> web.StreamResponse:
    """Answer a batch of "may I do ACTION to OBJECT?" questions (spec §2.2)."""
    raw = arrived_body(request)
    if raw is None:
        raw = await read_body(request)
    checks = request.app[keys.BATCHES].read(raw)
    if checks is None:
        # Something is not of its Go type (or not JSON): the binder says what, as Go would.
        body = await conform_body(AuthorizationRequest, raw)
        checks = well_typed_checks(body)
        if checks is None:  # the binder's output always has its Go types
            raise RuntimeError("authcheck: the bound batch was not well typed")
    caller = request[keys.ACTOR].caller
    checker = request.app[keys.AUTHCHECK]
    answers = checker.answer_now(caller, checks)
    if answers is None:  # it names stored objects
        answers = await checker.answer_in_full(caller, checks)
    request.app[keys.METRICS].stats.decided(sum(answers.values()), len(answers))
    return flags_response(answers)
