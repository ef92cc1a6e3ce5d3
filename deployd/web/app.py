"""The Starlette application: its routes, and JSON for every answer, errors included.

Built around one `DaemonLink`, made by whoever runs the app (the server, a test).
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deployd.protocol.errors import RpcError
from deployd.protocol.github import HOOK_PATH
from deployd.protocol.system import HelloParams, HelloResult

from . import hooks
from .link import DaemonLink, DaemonUnreachable


async def healthz(request: Request) -> Response:
    """200 while this process serves; says whether the daemon answers too (a refusal is an
    answer: the daemon is up). Its version is not said: this answers anyone."""
    link: DaemonLink = request.app.state.link
    try:
        hello = await link.call(HelloResult, "system.hello", HelloParams(client="deployd-web"))
    except RpcError:
        return JSONResponse({"web": "ok", "daemon_answers": True})
    except (DaemonUnreachable, TimeoutError):
        return JSONResponse({"web": "ok", "daemon_answers": False})
    return JSONResponse({"web": "ok", "daemon_answers": hello.protocol > 0})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def create_app(link: DaemonLink) -> Starlette:
    app = Starlette(
        routes=[
            Route(HOOK_PATH, hooks.receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.link = link
    app.state.bodies = asyncio.Semaphore(hooks.BODIES_AT_ONCE)
    return app
