"""Handlers for password reset by one-time passcode."""

from __future__ import annotations

import logging

from aiohttp import web

from service import keys
from service.api.binding import bind_body
from service.api.models import (
    ChangePasswordWithOneTimePasscodeRequest,
    RequestOneTimePasscodeRequest,
)
from service.errors import PASSWORD_AUTH_DISABLED, ApiError
from service.middleware import read_body
from service.store.redis import STORE_ERRORS

log = logging.getLogger(__name__)


def _refuse_if_disabled(request: web.Request) -> None:
    # Checked before the body is read, as Coder does.
    if request.app[keys.SETTINGS].disable_password_auth:
        raise ApiError(403, PASSWORD_AUTH_DISABLED)


async def request_code(request: web.Request) -> web.StreamResponse:
    """POST /users/otp/request: always 204 once the body is valid (spec §2.4)."""
    _refuse_if_disabled(request)
    body = await bind_body(RequestOneTimePasscodeRequest, await read_body(request))
    request[keys.AUDIT_FIELDS] = {"email": body.email}
    try:
        await request.app[keys.RESET].request(body.email, request[keys.CLIENT_NETWORK])
    except STORE_ERRORS:
        # Coder answers 204 whatever happens after validation; the outage is logged.
        log.error("could not queue a password reset request")
    return web.Response(status=204)


async def change_password(request: web.Request) -> web.StreamResponse:
    """POST /users/otp/change-password (spec §2.5)."""
    _refuse_if_disabled(request)
    body = await bind_body(ChangePasswordWithOneTimePasscodeRequest, await read_body(request))
    request[keys.AUDIT_FIELDS] = {"email": body.email}
    await request.app[keys.RESET].change_password(
        body.email, body.one_time_passcode, body.password, request[keys.CLIENT_NETWORK]
    )
    return web.Response(status=204)
