"""The Starlette application: its routes, the headers every answer carries, and errors as
JSON for machines (the webhook, /healthz) and as a page for people.

Built around one `DaemonLink`, made by whoever runs the app (the server, a test).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from deployd.protocol.errors import RpcError
from deployd.protocol.github import HOOK_PATH
from deployd.protocol.system import HelloParams, HelloResult

from . import analytics, hooks, live, login, logs, pages
from .forms import LoginForms
from .guard import STREAM_SECONDS, Web, templates, web
from .headers import SecurityHeaders
from .link import DaemonLink, DaemonUnreachable
from .sessions import Sessions
from .throttle import Throttle

MACHINES = ("/hooks/", "/healthz")
"""Paths machines call: their errors are JSON (as are those of any caller that does not
ask for HTML: a script's fetch)."""


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
    person = "text/html" in request.headers.get("accept", "")
    if request.url.path.startswith(MACHINES) or not person:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return web(request).templates.TemplateResponse(
        request,
        "error.html",
        {"status": exc.status_code, "message": exc.detail},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def create_app(link: DaemonLink, *, stream_seconds: float = STREAM_SECONDS) -> Starlette:
    app = Starlette(
        routes=[
            Route(HOOK_PATH, hooks.receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/login", login.show, methods=["GET"]),
            Route("/login", login.submit, methods=["POST"]),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/", pages.dashboard, methods=["GET"]),
            Route("/apps", pages.apps, methods=["GET"]),
            Route("/apps/{name}", pages.app, methods=["GET"]),
            Route("/apps/{name}/deploy", pages.deploy, methods=["POST"]),
            Route("/apps/{name}/rollback", pages.rollback, methods=["POST"]),
            Route("/apps/{name}/env", pages.env_set, methods=["POST"]),
            Route("/apps/{name}/env/reveal", pages.env_reveal, methods=["POST"]),
            Route("/apps/{name}/domains", pages.domain_attach, methods=["POST"]),
            Route("/apps/{name}/domains/detach", pages.domain_detach, methods=["POST"]),
            Route("/apps/{name}/logs", logs.show, methods=["GET"]),
            Route("/apps/{name}/logs/events", logs.events, methods=["GET"]),
            Route("/apps/{name}/analytics", analytics.show, methods=["GET"]),
            Route("/events", live.events, methods=["GET"]),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static")),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: http_error},
    )
    app.state.link = link
    app.state.bodies = asyncio.Semaphore(hooks.BODIES_AT_ONCE)
    app.state.web = Web(
        link=link,
        sessions=Sessions(),
        throttle=Throttle(),
        login_forms=LoginForms(),
        templates=templates(),
        stream_seconds=stream_seconds,
    )
    return app
