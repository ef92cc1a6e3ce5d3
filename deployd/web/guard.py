"""Who is asking: the session behind a request, the daemon connection that acts as its
person, and what is answered when either is missing.

`@page` handlers get a `Visit` whose `daemon` presented the session's token; `@action`
handlers (POST) also get the form, whose CSRF token has been checked first. A session the
daemon no longer takes ends here too; the daemon's refusals become pages with its words.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from deployctl.state import RANK
from deployd import __version__
from deployd.protocol.common import Identity
from deployd.protocol.errors import ErrorKind, RpcError
from deployd.protocol.methods import METHODS

from . import forms, views
from .forms import LoginForms
from .link import DaemonLink, DaemonUnreachable, TokenRefused, UserConnection
from .sessions import COOKIE, Session, Sessions
from .throttle import Throttle

log = logging.getLogger("deployd.web")

STATUS_OF_KIND = {
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.INVALID: 400,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAVAILABLE: 503,
}
STREAM_SECONDS = 600.0


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=Path(__file__).parent / "templates")
    found.env.globals.update(version=__version__, when=views.when, clock=views.clock)
    return found


@dataclass
class Web:
    """What every request shares: the daemon, the sessions, the login throttle."""

    link: DaemonLink
    sessions: Sessions
    throttle: Throttle
    login_forms: LoginForms
    templates: Jinja2Templates
    stream_seconds: float = STREAM_SECONDS


def web(request: Request) -> Web:
    found: Web = request.app.state.web
    return found


def session_of(request: Request) -> Session | None:
    return web(request).sessions.get(request.cookies.get(COOKIE))


def secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly, or through nginx on loopback,
    whose X-Forwarded-Proto uvicorn believes from there only)."""
    return request.url.scheme == "https"


def may(identity: Identity, method: str) -> bool:
    """Whether the role may call `method`: controls a role may not use are not shown (the
    daemon refuses them anyway)."""
    return RANK[identity.role] >= RANK[METHODS[method].role]


def require(identity: Identity, method: str, what: str) -> None:
    """A page that only leads to `method` is not shown to a role the daemon refuses it."""
    if not may(identity, method):
        needed = METHODS[method].role.value
        raise HTTPException(
            403, f"{what} needs the {needed} role; {identity.user} is {identity.role.value}"
        )


@dataclass
class Visit:
    request: Request
    session: Session
    daemon: UserConnection

    def render(self, name: str, context: dict[str, Any], status: int = 200) -> Response:
        identity = self.daemon.identity
        common = {
            "identity": identity,
            "csrf": self.session.csrf,
            "notice": self.session.take_notice(),
            "may": functools.partial(may, identity),
        }
        return web(self.request).templates.TemplateResponse(
            self.request, name, {**common, **context}, status_code=status
        )


Handler = Callable[[Visit], Awaitable[Response]]
ActionHandler = Callable[[Visit, dict[str, str]], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return await _as(request, session, handler)

    return endpoint


def action(
    handler: ActionHandler, *, form_bytes: int = forms.FORM_BYTES
) -> Callable[[Request], Awaitable[Response]]:
    """A form's handler: 403 without a session or the session's CSRF token; 413 for a
    body over `form_bytes` (a few fields, unless the form says it takes a file's worth)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            raise HTTPException(403, "you are not logged in (or your session ended): log in")
        fields = await forms.read_form(request, form_bytes)
        forms.require(fields, session.csrf)
        return await _as(request, session, lambda visit: handler(visit, fields))

    return endpoint


async def _as(request: Request, session: Session, handler: Handler) -> Response:
    here = web(request)
    try:
        async with here.link.as_user(session.token) as daemon:
            return await handler(Visit(request, session, daemon))
    except TokenRefused:
        here.sessions.close(session.id)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    except RpcError as exc:
        raise HTTPException(STATUS_OF_KIND.get(exc.kind, 502), exc.message) from None
    except (DaemonUnreachable, TimeoutError) as exc:
        log.warning("%s %s: deployd did not answer: %s", request.method, request.url.path, exc)
        raise HTTPException(503, "deployd is not answering; try again in a moment") from None
