"""Git's smart HTTP protocol at `<web>/<owner>/<repo>.git`, through the real `git http-backend`.

The backend runs as a CGI program: the request's body is streamed into it, its CGI headers
(with `Status:`) are read back and the pack streamed out. In front of it sits what GitHub
checks first: a private repository (or one that does not exist) answers 401 with
`WWW-Authenticate: Basic realm="GitHub"` until a token comes as the Basic password (any
user name, as `x-access-token:<token>`), and every request is recorded with whether it
carried an Authorization header.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from typing import IO, cast
from urllib.parse import parse_qs

from tests.support.github.world import GitRequest, Repository, Token, World

GIT_PATH = re.compile(
    r"^/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?"
    r"/(?P<rest>info/refs|git-upload-pack|git-receive-pack|HEAD|objects/.+)$"
)
CHUNK = 65536


def _read_chunked(stream: io.BufferedIOBase) -> bytes | None:
    """The next piece of a chunked body; None at its end (trailers consumed)."""
    size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
    if size == 0:
        while stream.readline() not in (b"\r\n", b"\n", b""):
            pass
        return None
    data = stream.read(size)
    stream.readline()
    return data


class GitHttp:
    def __init__(self, world: World, server_name: str, server_port: int) -> None:
        self.world = world
        self.server_name = server_name
        self.server_port = server_port

    def serve(self, handler: BaseHTTPRequestHandler, match: re.Match[str], query: str) -> None:
        rest = match["rest"]
        service = parse_qs(query).get("service", [""])[0] if rest == "info/refs" else rest
        full_name = f"{match['owner']}/{match['name']}"
        header = handler.headers.get("Authorization")
        token, login = self._token(header), None
        status = self._gate(handler, full_name, service, header, token)
        if status is None:
            repo = self.world.repo(full_name)
            assert repo is not None
            login = token.login if token else None
            status = self._run(handler, repo, rest, query, login)
        with self.world.lock:
            self.world.git_requests.append(
                GitRequest(
                    handler.command,
                    handler.path,
                    full_name,
                    service,
                    header is not None,
                    login,
                    status,
                )
            )

    def _token(self, header: str | None) -> Token | None:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        secret = user if password in ("", "x-oauth-basic") else password
        with self.world.lock:
            return self.world.valid_token(secret)

    def _gate(
        self,
        handler: BaseHTTPRequestHandler,
        full_name: str,
        service: str,
        header: str | None,
        token: Token | None,
    ) -> int | None:
        """GitHub's answer when the backend is not to be reached; None when it is."""
        if service not in ("git-upload-pack", "git-receive-pack"):
            return self._plain(handler, 403, "Please upgrade your git client.\n")
        if header is not None and token is None:
            return self._challenge(handler, "Invalid username or token.\n")
        with self.world.lock:
            repo = self.world.repo(full_name)
            visible = repo is not None and self.world.may(token, repo, "pull")
            writable = repo is not None and self.world.may(token, repo, "push")
        if service == "git-receive-pack" or not visible:
            if token is None:
                return self._challenge(handler, "Authentication required.\n")
            if not visible:
                return self._plain(handler, 404, "Repository not found.\n")
            if not writable:
                return self._plain(handler, 403, f"Permission to {full_name}.git denied.\n")
            return self._plain(handler, 403, "The stand-in takes pushes through its push().\n")
        return None

    def _plain(self, handler: BaseHTTPRequestHandler, status: int, text: str) -> int:
        body = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        if status == 401:
            handler.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
        handler.end_headers()
        handler.wfile.write(body)
        self._drain_request(handler)
        return status

    def _challenge(self, handler: BaseHTTPRequestHandler, text: str) -> int:
        return self._plain(handler, 401, text)

    def _drain_request(self, handler: BaseHTTPRequestHandler) -> None:
        """A refused request's body still has to be read, or the connection is unusable."""
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            handler.close_connection = True
            return
        length = int(handler.headers.get("Content-Length") or 0)
        while length > 0:
            data = handler.rfile.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)

    def _environment(
        self,
        handler: BaseHTTPRequestHandler,
        repo: Repository,
        rest: str,
        query: str,
        login: str | None,
    ) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.world.repos_root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": str(self.world.repos_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": "github-standin",
            "SERVER_PROTOCOL": handler.request_version,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": str(self.server_port),
            "REQUEST_METHOD": handler.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": f"/{repo.git.path.relative_to(self.world.repos_root)}/{rest}",
            "QUERY_STRING": query,
            "REMOTE_ADDR": handler.client_address[0],
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        }
        length = handler.headers.get("Content-Length")
        if length is not None and handler.headers.get("Transfer-Encoding") is None:
            env["CONTENT_LENGTH"] = length  # without it the backend reads to the end
        if login is not None:
            env["REMOTE_USER"] = login
        for name, value in handler.headers.items():
            if name.lower() not in ("authorization", "content-type", "content-length"):
                env["HTTP_" + name.upper().replace("-", "_")] = value
        return env

    def _run(
        self,
        handler: BaseHTTPRequestHandler,
        repo: Repository,
        rest: str,
        query: str,
        login: str | None,
    ) -> int:
        env = self._environment(handler, repo, rest, query, login)
        backend = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert backend.stdin and backend.stdout and backend.stderr
        feeder = threading.Thread(target=self._feed, args=(handler, backend.stdin), daemon=True)
        reader = threading.Thread(target=backend.stderr.read, daemon=True)  # drained, not kept
        feeder.start()
        reader.start()
        status, reason, headers = 200, "OK", []
        while (line := backend.stdout.readline().rstrip(b"\r\n")) != b"":
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                code, _, reason = value.strip().partition(" ")
                status = int(code)
            else:
                headers.append((name.strip(), value.strip()))
        handler.send_response(status, reason or None)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Connection", "close")  # no length: the end of the body is EOF
        handler.end_headers()
        handler.close_connection = True
        stdout = cast(io.BufferedReader, backend.stdout)
        while chunk := stdout.read1(CHUNK):
            handler.wfile.write(chunk)
        handler.wfile.flush()
        backend.wait()
        feeder.join(timeout=5)
        reader.join(timeout=5)
        return status

    def _feed(self, handler: BaseHTTPRequestHandler, sink: IO[bytes]) -> None:
        try:
            if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while (data := _read_chunked(handler.rfile)) is not None:
                    sink.write(data)
            else:
                length = int(handler.headers.get("Content-Length") or 0)
                while length > 0 and (data := handler.rfile.read(min(CHUNK, length))):
                    sink.write(data)
                    length -= len(data)
        except OSError:
            pass  # the backend stopped reading: its answer says why
        finally:
            with contextlib.suppress(OSError):
                sink.close()
