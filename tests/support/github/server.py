"""The stand-in's HTTP server: one threaded `http.server` for the web side (OAuth, git) and
the API under /api/v3, as one GitHub Enterprise Server host serves both."""

from __future__ import annotations

import contextlib
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support.github.api import API_PREFIX, Api
from tests.support.github.githttp import GIT_PATH, GitHttp
from tests.support.github.oauth import OAuth
from tests.support.github.wire import Request, Response

MAX_BODY = 25 * 1024 * 1024  # GitHub refuses larger request bodies too


class Site:
    """Which part of GitHub answers which path."""

    def __init__(self, api: Api, oauth: OAuth, git: GitHttp) -> None:
        self.api = api
        self.oauth = oauth
        self.git = git

    def answer(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self.api.handle(request)
        if (method, path) == ("POST", "/login/device/code"):
            return self.oauth.device_code(request)
        if (method, path) == ("POST", "/login/oauth/access_token"):
            return self.oauth.access_token(request)
        if (method, path) == ("GET", "/login/device"):
            return self.oauth.device_page(request)
        return Response.text(404, "Not Found")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    site: Site  # set once the parts that need the bound port's URL are made

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the world records what tests look at

    def _handle(self) -> None:
        try:
            self._answer()
        except Exception:  # a bug of the stand-in's: a 500 and a record, not a dropped line
            with self.server.site.api.world.lock:
                self.server.site.api.world.errors.append(traceback.format_exc())
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(Response.text(500, "stand-in error"))

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        git = GIT_PATH.match(parts.path)
        if git is not None:
            self.server.site.git.serve(self, git, parts.query)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY or self.headers.get("Transfer-Encoding"):
            self._send(Response.text(413, "Request Entity Too Large"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        query = parse_qs(parts.query, keep_blank_values=True)
        request = Request(self.command, parts.path, query, self.headers, body)
        self._send(self.server.site.answer(request))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)
