"""What the pages' Server-Sent Event streams share (`/events`, a deploy's, an app's log):
one daemon stream, opened as the person logged in, relayed in bursts for a bounded time.

A stream lasts `stream_seconds` (10 minutes), then ends and the browser comes back at
once (`retry:`) with its last id: a session that ended or a token revoked meanwhile stops
it there, and no proxy holds a connection for ever. A comment every 15 s keeps proxies
from closing an idle one. The daemon's items are read into a queue by a task of their
own, so waiting for them with a timeout (for the keepalive) never cancels the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from deployd.protocol.errors import ErrorKind, RpcError

from . import views
from .guard import Web
from .link import DaemonUnreachable, TokenRefused, UserConnection
from .sessions import Session

log = logging.getLogger("deployd.web.streams")

KEEPALIVE = ": keepalive\n\n"
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 2000
"""How long the browser waits before it reconnects to a stream that ended."""
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
BURST_MOST = 1000
"""The most items handled as one burst (the rest make the next)."""
QUEUED_MOST = 2 * BURST_MOST
"""Items waiting for a browser that reads slowly: past it the daemon's stream waits too
(and the daemon drops a reader that falls too far behind) rather than this process
holding them all."""
ENDING = (ErrorKind.NOT_FOUND, ErrorKind.FORBIDDEN, ErrorKind.INVALID)
"""Refusals the browser is told of (`ended`): asking again would be refused again."""


def once(kind: str, data: dict[str, Any]) -> Response:
    """A stream of one event: `signed-out` without a session (an error status would only
    make the browser retry), `ended` for a request that can never be followed."""
    return Response(views.sse(kind, data), media_type="text/event-stream", headers=HEADERS)


def respond(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=HEADERS)


class Bursts:
    """What the daemon's stream sent, in bursts: the items that arrived together (a deploy
    publishes a dozen events in a second, a busy app hundreds of lines), None after
    KEEPALIVE_SECONDS of quiet; over at `ends` or when the daemon ends the stream."""

    def __init__(self, items: AsyncIterator[Any], ends: float) -> None:
        self._items = items
        self._ends = ends
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUED_MOST)

    async def _pump(self) -> None:
        try:
            async for item in self._items:
                await self._queue.put(item)  # a browser that reads slowly slows the daemon's
        except (RpcError, DaemonUnreachable) as exc:
            log.info("the daemon ended a stream: %s", exc)
        finally:
            await self._queue.put(None)  # the end, after what waits (cancelled: no one reads)

    async def __aiter__(self) -> AsyncIterator[list[Any] | None]:
        pump = asyncio.create_task(self._pump())
        try:
            while (left := self._ends - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(min(KEEPALIVE_SECONDS, left)):
                        first = await self._queue.get()
                except TimeoutError:
                    yield None
                    continue
                if first is None:
                    return
                burst = [first]
                while not self._queue.empty() and len(burst) < BURST_MOST:
                    item = self._queue.get_nowait()
                    if item is None:
                        yield burst
                        return
                    burst.append(item)
                yield burst
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


Frames = Callable[[UserConnection, BaseModel, Bursts], AsyncIterator[str]]
"""A stream's own part: the daemon connection (as the person), the stream's first answer,
its bursts; yields the frames (and KEEPALIVE for a None burst)."""


async def relay(
    here: Web, session: Session, method: str, params: BaseModel, frames: Frames, what: str
) -> AsyncIterator[str]:
    """`method`'s stream as the person, through `frames`, for at most `stream_seconds`;
    a session the daemon no longer takes ends here with `signed-out`."""
    yield f"retry: {RETRY_MS}\n\n"
    ends = time.monotonic() + here.stream_seconds
    try:
        async with here.link.as_user(session.token) as daemon:
            first, items = await daemon.stream(method, params)
            async for frame in frames(daemon, first, Bursts(items, ends)):
                yield frame
    except TokenRefused:
        here.sessions.close(session.id)
        yield views.sse("signed-out", {"login": "/login"})
    except RpcError as exc:
        if exc.kind in ENDING:
            yield views.sse("ended", {"message": exc.message})
        log.info("%s of %s ended: %s", what, session.user, exc)
    except (DaemonUnreachable, TimeoutError) as exc:
        log.info("%s of %s ended: %s", what, session.user, exc)
