"""The ceiling: the same aiohttp + pydantic stack on the same event loop (uvloop, as `serve`)
answering a JSON POST of the same size, with no Redis and no auth.
`python -m bench.baseline PORT [--reuse-port]`."""

from __future__ import annotations

import sys

from aiohttp import web
from pydantic import BaseModel


class Obj(BaseModel):
    resource_type: str = ""
    owner_id: str = ""
    organization_id: str = ""
    resource_id: str = ""
    any_org: bool = False


class Check(BaseModel):
    object: Obj = Obj()
    action: str = ""


class Body(BaseModel):
    checks: dict[str, Check] = {}


async def answer(request: web.Request) -> web.Response:
    body = Body.model_validate_json(await request.read())
    return web.json_response({key: True for key in body.checks})


def main() -> None:
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = web.Application()
    app.router.add_post("/api/v2/authcheck", answer)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=lambda *_: None,
        reuse_port="--reuse-port" in sys.argv,
    )


if __name__ == "__main__":
    main()
