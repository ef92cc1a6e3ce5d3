"""`GET/POST /login` and `POST /logout`.

The password goes to the daemon (`auth.login`, which checks it with bcrypt and audits the
attempt) and is never kept; the daemon's session token stays in this process, and the
browser gets a new random session id. Wrong passwords are counted per name and per
address (`throttle.py`): past five, the next attempt is answered 429 until its wait has
passed, without asking the daemon.
"""

from __future__ import annotations

import logging
import math

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deployd.protocol.errors import ErrorKind, RpcError
from deployd.protocol.users import LoginParams, TokenIdParams, TokenInfo

from . import forms
from .guard import secure, session_of, web
from .link import DaemonUnreachable, TokenRefused
from .sessions import COOKIE

log = logging.getLogger("deployd.web.login")

WRONG = "wrong user name or password"
LOGIN_FORM_SECONDS = 3600


def _next(target: str | None) -> str:
    """Where to go after logging in: a path of ours, never another site (`//evil`)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _form(
    request: Request, *, error: str | None = None, status: int = 200, name: str = ""
) -> Response:
    here = web(request)
    nonce, token = here.login_forms.issue()
    context = {
        "csrf": token,
        "error": error,
        "name": name,
        "next": _next(request.query_params.get("next")),
    }
    response = here.templates.TemplateResponse(request, "login.html", context, status_code=status)
    response.set_cookie(
        forms.LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    return response


async def show(request: Request) -> Response:
    if session_of(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return _form(request)


async def submit(request: Request) -> Response:
    here = web(request)
    fields = await forms.read_form(request)
    if not here.login_forms.check(request.cookies.get(forms.LOGIN_COOKIE), fields.get(forms.FIELD)):
        return _form(request, error="The form had expired: log in again.", status=403)
    name = fields.get("name", "").strip()[:64]
    keys = [f"name:{name.lower()}", f"address:{request.client.host if request.client else '?'}"]
    wait = here.throttle.wait(keys)
    if wait > 0:
        response = _form(
            request,
            error=f"Too many wrong passwords: try again in {math.ceil(wait)} s.",
            status=429,
            name=name,
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    try:
        params = LoginParams(name=name, password=fields.get("password", ""))
    except ValidationError:
        here.throttle.failed(keys)
        return _form(request, error=f"{WRONG.capitalize()}.", status=403, name=name)
    try:
        token = await here.link.login(params)
    except RpcError as exc:
        if exc.kind is not ErrorKind.FORBIDDEN:
            return _form(request, error=f"deployd refused: {exc.message}", status=502, name=name)
        here.throttle.failed(keys)
        return _form(request, error=f"{WRONG.capitalize()}.", status=403, name=name)
    except (DaemonUnreachable, TimeoutError) as exc:
        log.warning("login of %r: deployd did not answer: %s", name, exc)
        return _form(request, error="deployd is not answering; try again.", status=503, name=name)
    here.throttle.succeeded(keys[0])
    here.sessions.prune()
    session = here.sessions.open(
        params.name, token.token, token.info.id, token.info.expires_at.timestamp()
    )
    response = RedirectResponse(_next(fields.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        session.id,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    response.delete_cookie(forms.LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
    return response


async def logout(request: Request) -> Response:
    """The daemon's token is revoked (so it is worthless wherever it might be), then the
    session ends."""
    here = web(request)
    session = session_of(request)
    if session is not None:
        fields = await forms.read_form(request)
        forms.require(fields, session.csrf)
        try:
            async with here.link.as_user(session.token) as daemon:
                await daemon.call(TokenInfo, "tokens.revoke", TokenIdParams(id=session.token_id))
        except (RpcError, TokenRefused, DaemonUnreachable, TimeoutError) as exc:
            log.warning("logout of %s: the token was not revoked: %s", session.user, exc)
        here.sessions.close(session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
