"""A small synchronous JSON-RPC client over the daemon's Unix socket.

Synchronous on purpose: a CLI call is one request and one reply (or one stream), and
skipping asyncio keeps start-up fast. Results are validated with the protocol's models.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from deployd.protocol import framing, sockets
from deployd.protocol.errors import ErrorKind, RpcError
from deployd.protocol.events import StreamComplete, notification_params
from deployd.protocol.methods import METHODS


class DaemonUnreachable(Exception):
    pass


def default_socket() -> Path:
    return sockets.default_socket(os.environ)


class Client:
    def __init__(self, path: Path, *, timeout: float | None = 60.0) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except FileNotFoundError:
            self._sock.close()
            raise DaemonUnreachable(f"deployd is not running (no socket at {path})") from None
        except ConnectionRefusedError:
            self._sock.close()
            raise DaemonUnreachable(f"deployd is not running (stale socket at {path})") from None
        except PermissionError:
            self._sock.close()
            raise DaemonUnreachable(
                f"permission denied on {path}: you need to be root or in the deployd group"
            ) from None
        except OSError as exc:
            self._sock.close()
            raise DaemonUnreachable(f"cannot reach deployd at {path}: {exc.strerror}") from None
        self._reader = self._sock.makefile("rb")

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authenticate(self, token: str) -> None:
        self.call("auth.authenticate", {"token": token})

    def call(self, method: str, params: BaseModel | dict[str, Any] | None = None) -> Any:
        """Send one request; return its result validated with the method's result model."""
        request_id = self._send(method, params)
        message = self._next_reply(request_id)
        return METHODS[method].result.model_validate(message["result"])

    def stream(
        self, method: str, params: BaseModel | dict[str, Any] | None = None
    ) -> tuple[Any, Iterator[dict[str, Any]]]:
        """The first result and then each notification's params, until the stream ends."""
        spec = METHODS[method]
        request_id = self._send(method, params)
        first = spec.result.model_validate(self._next_reply(request_id)["result"])
        return first, self._notifications(spec.notification or "")

    def _send(self, method: str, params: BaseModel | dict[str, Any] | None) -> int:
        if isinstance(params, BaseModel):
            payload = params.model_dump(mode="json", exclude_none=True)
        else:
            payload = params or {}
        request_id = next(self._ids)
        try:
            self._sock.sendall(framing.encode(framing.request(method, payload, request_id)))
        except OSError as exc:
            self._raise_pending_refusal()
            raise DaemonUnreachable(f"lost the connection to deployd: {exc}") from None
        return request_id

    def _raise_pending_refusal(self) -> None:
        """The daemon may have refused us on connect and closed; show its reason."""
        try:
            self._sock.settimeout(1.0)
            message = self._read()
        except (DaemonUnreachable, OSError):
            return
        if "error" in message:
            raise RpcError.from_wire(message["error"])

    def _read(self) -> dict[str, Any]:
        try:
            line = self._reader.readline()
        except TimeoutError:
            raise DaemonUnreachable("deployd did not answer in time") from None
        except OSError as exc:
            raise DaemonUnreachable(f"lost the connection to deployd: {exc}") from None
        if not line:
            raise DaemonUnreachable("deployd closed the connection")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise RpcError(ErrorKind.INTERNAL, "the daemon sent something that is not an object")
        return message

    def _next_reply(self, request_id: int) -> dict[str, Any]:
        while True:
            message = self._read()
            if "method" in message:
                continue  # a notification of an earlier stream
            if "error" in message and message.get("id") in (request_id, None):
                raise RpcError.from_wire(message["error"])
            if message.get("id") == request_id:
                return message

    def _notifications(self, expected: str) -> Iterator[dict[str, Any]]:
        self._sock.settimeout(None)
        while True:
            try:
                message = self._read()
            except DaemonUnreachable:
                return
            try:
                params = notification_params(message, expected)
            except StreamComplete:
                return
            if params is not None:
                yield params
