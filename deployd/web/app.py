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

from . import (
    analytics,
    config,
    db_pages,
    deploys,
    domains,
    hooks,
    lifecycle,
    live,
    login,
    logs,
    pages,
    views,
    wizard,
)
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
    back, back_to = views.back_link(request.url.path)
    return web(request).templates.TemplateResponse(
        request,
        "error.html",
        {"status": exc.status_code, "message": exc.detail, "back": back, "back_to": back_to},
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
            # the wizards live under /new/, where no app's or database's name can be
            Route("/new/app", wizard.show, methods=["GET"]),
            Route("/new/app", wizard.submit, methods=["POST"]),
            Route("/new/database", db_pages.new, methods=["GET"]),
            Route("/apps/{name}/deploys/{job}", deploys.show, methods=["GET"]),
            Route("/apps/{name}/deploys/{job}/events", deploys.events, methods=["GET"]),
            Route("/apps/{name}", pages.app, methods=["GET"]),
            Route("/apps/{name}/deploy", pages.deploy, methods=["POST"]),
            Route("/apps/{name}/rollback", pages.rollback_confirm, methods=["GET"]),
            Route("/apps/{name}/rollback", pages.rollback, methods=["POST"]),
            Route("/apps/{name}/restart", lifecycle.restart, methods=["POST"]),
            Route("/apps/{name}/stop", lifecycle.stop, methods=["POST"]),
            Route("/apps/{name}/start", lifecycle.start, methods=["POST"]),
            Route("/apps/{name}/scale", lifecycle.scale, methods=["POST"]),
            Route("/apps/{name}/env", config.set_one, methods=["POST"]),
            Route("/apps/{name}/env/import", config.import_dotenv, methods=["POST"]),
            Route("/apps/{name}/env/reveal", config.reveal, methods=["POST"]),
            Route("/apps/{name}/domains", domains.attach, methods=["POST"]),
            Route("/apps/{name}/domains/verify", domains.verify, methods=["POST"]),
            Route("/apps/{name}/domains/detach", domains.detach, methods=["POST"]),
            Route("/databases", db_pages.databases, methods=["GET"]),
            Route("/databases", db_pages.create, methods=["POST"]),
            Route("/databases/{name}", db_pages.database, methods=["GET"]),
            Route("/databases/{name}/reveal", db_pages.reveal, methods=["POST"]),
            Route("/databases/{name}/backup", db_pages.backup, methods=["POST"]),
            Route("/databases/{name}/restore", db_pages.restore_confirm, methods=["GET"]),
            Route("/databases/{name}/restore", db_pages.restore, methods=["POST"]),
            Route("/databases/{name}/schedule", db_pages.schedule, methods=["POST"]),
            Route("/databases/{name}/link", db_pages.link, methods=["POST"]),
            Route("/databases/{name}/unlink", db_pages.unlink, methods=["POST"]),
            Route("/databases/{name}/drop", db_pages.drop, methods=["POST"]),
            Route("/apps/{name}/database", db_pages.app_database, methods=["GET"]),
            Route("/apps/{name}/logs", logs.show, methods=["GET"]),
            Route("/apps/{name}/logs/events", logs.events, methods=["GET"]),
            Route("/apps/{name}/analytics", analytics.show, methods=["GET"]),
            Route("/events", live.events, methods=["GET"]),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static")),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: http_error},
    )
    app.router.redirect_slashes = False  # its redirect would name whatever Host was sent
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
