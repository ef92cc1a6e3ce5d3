"""The REST API's common ground: tokens, rate limits, injected faults, errors, pages, routes.

Under `<base>/api/v3`, as GitHub Enterprise Server serves it. Each route names the OAuth
scopes it accepts, which the answer repeats in `X-Accepted-OAuth-Scopes` as GitHub does.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.support.github.events import Events
from tests.support.github.hooks import Dispatcher
from tests.support.github.pushes import Pushes
from tests.support.github.shapes import Json, Shapes
from tests.support.github.wire import Request, Response
from tests.support.github.world import (
    ApiRequest,
    Fault,
    Permission,
    RateWindow,
    Repository,
    Token,
    World,
)

API_PREFIX = "/api/v3"
DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


class ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def error(status: int, message: str, documentation_url: str = DOCS, **extra: Any) -> ApiError:
    body = {"message": message, **extra, "documentation_url": documentation_url}
    return ApiError(Response.json(status, body | {"status": str(status)}))


def not_found() -> ApiError:
    return error(404, "Not Found")


def invalid(resource: str, field: str, code: str = "invalid", **extra: Any) -> ApiError:
    detail = {"resource": resource, "field": field, "code": code, **extra}
    return error(422, "Validation Failed", errors=[detail])


@dataclass
class Call:
    request: Request
    token: Token | None

    @property
    def login(self) -> str | None:
        return self.token.login if self.token else None

    def body(self) -> dict[str, Any]:
        try:
            data = self.request.json()
        except ValueError:
            raise error(400, "Problems parsing JSON") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise error(400, "Body should be a JSON object")
        return data


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    scopes: tuple[str, ...] = ()


class Api:
    def __init__(
        self, world: World, shapes: Shapes, events: Events, dispatcher: Dispatcher, pushes: Pushes
    ) -> None:
        self.world = world
        self.shapes = shapes
        self.events = events
        self.dispatcher = dispatcher
        self.pushes = pushes
        self.routes: list[Route] = []

    def route(self, method: str, path: str, handler: Handler, *scopes: str) -> None:
        pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)  # {ref+}: may hold slashes
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.routes.append(Route(method, re.compile(f"^{pattern}$"), handler, scopes))

    # the request's way through
    def handle(self, request: Request) -> Response:
        path = request.path[len(API_PREFIX) :] or "/"
        scheme, token, response = None, None, None
        with self.world.lock:
            try:
                scheme, token = self._authenticate(request)
            except ApiError as exc:
                response = exc.response
            window = self._window(token.login if token else "anonymous")
            if response is None:
                response = self._spend(window, token)
        if response is None:
            response = self._dispatch(request, path, token)
        self._decorate(response, window, token, anonymous=token is None)
        with self.world.lock:
            self.world.api_requests.append(
                ApiRequest(request.method, path, response.status, scheme)
            )
        return response

    def _authenticate(self, request: Request) -> tuple[str | None, Token | None]:
        header = request.header("Authorization")
        if header is None:
            return None, None
        scheme, _, credentials = header.strip().partition(" ")
        scheme, value = scheme.lower(), credentials.strip()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise error(401, "Bad credentials") from None
            value = password or user
        elif scheme not in ("token", "bearer"):
            raise error(401, "Bad credentials")
        token = self.world.valid_token(value)
        if token is None:
            raise error(401, "Bad credentials")
        return scheme, token

    def _window(self, key: str) -> RateWindow:
        now = self.world.now()
        window = self.world.rate.get(key)
        if window is None or now >= window.reset_at:
            window = self.world.rate[key] = RateWindow(reset_at=now + 3600)
        return window

    def _spend(self, window: RateWindow, token: Token | None) -> Response | None:
        """One request off the hour's allowance; the 403 once it is spent, or a fault."""
        window.used += 1
        limit = World.RATE_LIMIT if token else World.ANONYMOUS_RATE_LIMIT
        if window.used > limit:
            return self._limited(403, token)
        return self._fault(token)

    def _limited(self, status: int, token: Token | None) -> Response:
        account = self.world.account(token.login) if token else None
        who = f"user ID {account.id}" if account else "127.0.0.1"
        response = error(status, f"API rate limit exceeded for {who}.", RATE_DOCS).response
        response.rate_limited = True
        return response

    def _fault(self, token: Token | None) -> Response | None:
        """The next injected fault, if any: it answers this one call, and is used up."""
        if not self.world.faults:
            return None
        fault: Fault = self.world.faults.pop(0)
        if fault.kind == "primary":
            return self._limited(fault.status, token)
        if fault.kind == "secondary":
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again."
            )
            response = error(fault.status, message, RATE_DOCS).response
            response.headers.append(("Retry-After", str(fault.retry_after)))
            return response
        return Response.json(fault.status, {"message": "Server Error"})

    def _dispatch(self, request: Request, path: str, token: Token | None) -> Response:
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None or route.method != request.method:
                continue
            try:
                response = route.handler(Call(request, token), **match.groupdict())
            except ApiError as exc:
                response = exc.response
            if route.scopes:
                response.headers.append(("X-Accepted-OAuth-Scopes", ", ".join(route.scopes)))
            return response
        return not_found().response

    def _decorate(
        self, response: Response, window: RateWindow, token: Token | None, *, anonymous: bool
    ) -> None:
        limit = World.ANONYMOUS_RATE_LIMIT if anonymous else World.RATE_LIMIT
        remaining = 0 if response.rate_limited else max(0, limit - window.used)
        response.headers += [
            ("X-GitHub-Media-Type", "github.v3; format=json"),
            ("X-GitHub-Api-Version-Selected", "2022-11-28"),
            ("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper()),
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(int(window.reset_at))),
            ("X-RateLimit-Used", str(window.used)),
            ("X-RateLimit-Resource", "core"),
        ]
        if token is not None and not token.from_github_app:
            response.headers.append(("X-OAuth-Scopes", ", ".join(token.scopes)))

    # helpers the routes share
    def repository(
        self, call: Call, owner: str, name: str, need: Permission = "pull"
    ) -> Repository:
        """The repository, or the 404 GitHub gives whoever may not see (or change) it."""
        repo = self.world.repo(f"{owner}/{name}")
        if repo is None or not self.world.may(call.token, repo, need):
            raise not_found()
        return repo

    def push_ref(self, repo: Repository, branch: str, sha: str, pusher: str) -> None:
        """A change GitHub itself makes to a branch (an auto-merge), with its webhooks."""
        self.pushes.update(repo, branch, sha, pusher)

    def require_login(self, call: Call) -> str:
        if call.token is None:
            raise error(401, "Requires authentication")
        return call.token.login

    def require_scope(self, call: Call, *accepted: str) -> None:
        if not self.world.has_scope(call.token, accepted):
            raise not_found()

    def paginate(self, call: Call, items: list[Json], path: str) -> Response:
        per_page = number_arg(call.request.arg("per_page"), 30, 1, 100)
        page = number_arg(call.request.arg("page"), 1, 1, 10**6)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                query = {k: v for k, v in call.request.query.items() if k != "page"}
                query["page"] = [str(target)]
                url = f"{self.shapes.urls.api}{path}?{urlencode(query, doseq=True)}"
                links.append(f'<{url}>; rel="{rel}"')
        headers = [("Link", ", ".join(links))] if links else []
        return Response.json(200, chunk, headers)


def number_arg(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        value = default
    return min(high, max(low, value))
