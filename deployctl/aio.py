"""An asyncio JSON-RPC client of the daemon's socket, for the TUI (and anything long-lived).

The CLI's `Client` is synchronous because a command is one request and one reply. A screen
that stays open needs calls that do not block the event loop, streams it can read while it
calls, and streams that come back by themselves after the daemon restarts: `Resilient`
wraps a stream with reconnection and back-off and says when it is down, so the screen can
show it instead of silently going quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from deployd.protocol import framing
from deployd.protocol.errors import ErrorKind, RpcError
from deployd.protocol.events import StreamComplete, notification_params
from deployd.protocol.methods import METHODS

from .client import DaemonUnreachable

READ_LIMIT = 16 * 1024 * 1024
"""The longest line we accept from the daemon: a log line of a megabyte must not end the
stream (asyncio's default limit is 64 KiB)."""

M = TypeVar("M", bound=BaseModel)


class AsyncClient:
    """One connection: calls are answered by id, so several may be in flight at once."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._notifications: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._closed: DaemonUnreachable | None = None
        self._pump = asyncio.create_task(self._read_all(), name="deployctl-rpc-reader")

    @classmethod
    async def connect(cls, path: Path, token: str | None = None) -> AsyncClient:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=READ_LIMIT)
        except FileNotFoundError:
            raise DaemonUnreachable(f"deployd is not running (no socket at {path})") from None
        except ConnectionRefusedError:
            raise DaemonUnreachable(f"deployd is not running (stale socket at {path})") from None
        except PermissionError:
            raise DaemonUnreachable(
                f"permission denied on {path}: you need to be root or in the deployd group"
            ) from None
        except OSError as exc:
            raise DaemonUnreachable(f"cannot reach deployd at {path}: {exc.strerror}") from None
        client = cls(reader, writer)
        if token:
            try:
                await client.call("auth.authenticate", {"token": token})
            except BaseException:
                await client.close()
                raise
        return client

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._fail(DaemonUnreachable("the connection was closed"))

    async def call(self, method: str, params: BaseModel | dict[str, Any] | None = None) -> Any:
        """Send one request; return its result validated with the method's result model."""
        reply = await self._request(method, params)
        return METHODS[method].result.model_validate(reply["result"])

    async def call_as(
        self, result: type[M], method: str, params: BaseModel | dict[str, Any] | None = None
    ) -> M:
        """`call` with the result's model named by the caller, so the answer is typed: for
        code that serves one method (the web process's webhook receiver) rather than many."""
        reply = await self._request(method, params)
        return result.model_validate(reply["result"])

    async def stream(
        self, method: str, params: BaseModel | dict[str, Any] | None = None
    ) -> tuple[Any, AsyncIterator[dict[str, Any]]]:
        """The first result, then each notification's params until the stream ends.

        A stream takes the connection: open one client per stream."""
        spec = METHODS[method]
        first = spec.result.model_validate((await self._request(method, params))["result"])
        return first, self._items(spec.notification or "")

    async def _request(
        self, method: str, params: BaseModel | dict[str, Any] | None
    ) -> dict[str, Any]:
        if self._closed is not None:
            raise self._closed
        if isinstance(params, BaseModel):
            payload = params.model_dump(mode="json", exclude_none=True)
        else:
            payload = params or {}
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(framing.encode(framing.request(method, payload, request_id)))
            await self._writer.drain()
        except OSError as exc:
            self._pending.pop(request_id, None)
            if future.done():  # the daemon said why before it closed (a line too long)
                return await future
            future.cancel()
            raise DaemonUnreachable(f"lost the connection to deployd: {exc}") from None
        return await future

    async def _items(self, expected: str) -> AsyncIterator[dict[str, Any]]:
        while True:
            message = await self._notifications.get()
            if message is None:
                raise self._closed or DaemonUnreachable("deployd closed the connection")
            try:
                params = notification_params(message, expected)
            except StreamComplete:
                return
            if params is not None:
                yield params

    async def _read_all(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    raise DaemonUnreachable("deployd closed the connection")
                message = json.loads(line)
                if not isinstance(message, dict):
                    continue
                self._route(message)
        except DaemonUnreachable as exc:
            self._fail(exc)
        except (OSError, ValueError) as exc:  # ValueError: a line past READ_LIMIT, or not JSON
            self._fail(DaemonUnreachable(f"lost the connection to deployd: {exc}"))

    def _route(self, message: dict[str, Any]) -> None:
        if "method" in message:
            self._notifications.put_nowait(message)
            return
        request_id = message.get("id")
        if request_id is None and "error" in message:  # a refusal of the whole connection
            self._fail(RpcError.from_wire(message["error"]))
            return
        future = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if future is None or future.done():
            return
        if "error" in message:
            future.set_exception(RpcError.from_wire(message["error"]))
        else:
            future.set_result(message)

    def _fail(self, exc: DaemonUnreachable | RpcError) -> None:
        if self._closed is None:
            self._closed = (
                exc if isinstance(exc, DaemonUnreachable) else DaemonUnreachable(str(exc))
            )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        self._notifications.put_nowait(None)


class Link(StrEnum):
    """How a long-lived stream is doing, for the badge a screen shows."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.5
    most: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.most)


Opener = Callable[[AsyncClient], Awaitable[AsyncIterator[dict[str, Any]]]]


class Resilient:
    """A stream that reconnects by itself: `items()` ends only when the daemon ends the
    stream as complete (a deploy that finished), never because the connection dropped.

    `open` is asked again on every connection (so it can resume, e.g. events after the
    last id seen); `on_link` hears every change, so a screen can say "disconnected —
    reconnecting" the moment a stream drops rather than going quiet (k9s#516)."""

    def __init__(
        self,
        path: Path,
        open: Opener,
        on_link: Callable[[Link, str | None], None],
        *,
        token: str | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.path = path
        self._open = open
        self._on_link = on_link
        self._token = token
        self._backoff = backoff

    async def items(self) -> AsyncIterator[dict[str, Any]]:
        delays = self._backoff.delays()
        self._on_link(Link.CONNECTING, None)
        while True:
            client: AsyncClient | None = None
            try:
                client = await AsyncClient.connect(self.path, self._token)
                stream = await self._open(client)
                self._on_link(Link.LIVE, None)
                delays = self._backoff.delays()
                async for item in stream:
                    yield item
                return  # the daemon said all it had to say (a deploy that ended)
            except (DaemonUnreachable, RpcError) as exc:
                if isinstance(exc, RpcError) and exc.kind not in _RETRYABLE:
                    raise
                reason = str(exc)
            finally:
                if client is not None:
                    await client.close()
            self._on_link(Link.RECONNECTING, reason)
            await asyncio.sleep(next(delays))


_RETRYABLE = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.INTERNAL})
