"""An app's Logs tab: `GET /apps/{name}/logs` draws its recent lines (`logs.read`, with
the person's filters), and `GET /apps/{name}/logs/events` carries on with the new ones as
Server-Sent Events (`logs.follow`), as the person logged in.

The daemon's log has no line numbers to resume from; its lines carry a millisecond time
stamp. So the SSE id of a batch is a cursor naming its last line: its stamp, how many
copies of it came in a row, a digest of it (`2026-11-30T05:40:00.123Z~1~3f9a0c2b7d1e`).
A stream that ended comes back with it: the daemon is asked for the lines since a little
before that stamp, and those up to that line are skipped (`Resume`): nothing is shown
twice, nothing is lost (unless more than `REPLAY_LINES` came while the browser was
away). The page gives the first cursor: that of its last line, or the moment before it
was read when it has none.

The app's one runtime log holds every release's processes (the daemon writes it, not the
release), so the stream carries on across a deploy: the new release's lines follow.

Lines are the app's own text: hostile. Control and bidi characters are shown escaped,
a line is cut at `LINE_CHARS`, and the page and the script only ever set text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from deployd.protocol.apps import (
    LogLine,
    LogsFollowParams,
    LogsReadParams,
    LogsReadResult,
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.common import explain
from deployd.protocol.errors import ErrorKind, RpcError

from . import views
from .guard import Visit, Web, page, session_of, web
from .link import DaemonUnreachable, TokenRefused
from .live import HEADERS, KEEPALIVE_SECONDS, RETRY_MS
from .pages import app_name
from .sessions import Session
from .tabs import app_header

log = logging.getLogger("deployd.web.logs")

LINE_CHARS = 2000
"""A longer line is shown cut, saying how much was left out."""
LINES_CHOICES = (100, 500, 1000, 5000)
SINCE_CHOICES = ("5m", "15m", "1h", "6h", "24h", "7d")
SEARCH_LINES = 10_000
"""A search looks through this many of the newest lines (the daemon has no search)."""
SEARCH_CHARS = 100
REPLAY_LINES = 5000
"""At most this many lines are asked for again when a stream resumes."""
BATCH = 200
"""At most this many lines go in one frame (a burst is sent in a few frames, not a
thousand)."""
RELEASES_SHOWN = 20

STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
LINE = re.compile(
    r"(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z) "
    r"(?P<source>[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[0-9]+)?\[v[0-9]+\]): ?(?P<text>.*)",
    re.S,
)
"""The runtime log's line as the daemon writes it: `STAMP web.1[v12]: text`."""
CURSOR = re.compile(rf"({STAMP.pattern})~([0-9]{{1,6}})(?:~([0-9a-f]{{12}}))?")
LATE = timedelta(seconds=1)
"""Lines of the one log are at most this far out of their stamps' order."""
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (tab kept) and those that reorder text on screen (bidi)."""


def safe(text: str) -> str:
    """`text` with its control and bidi characters shown as escapes, never acted on."""
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def stamp_of(line: str) -> str | None:
    head = line[:24]
    return head if STAMP.fullmatch(head) else None


def shown(line: str) -> dict[str, Any]:
    """A line as the page draws it (and the stream sends it): its time, its process and
    release, its text cut at LINE_CHARS, escaped."""
    bounded = line[: LINE_CHARS * 2]  # the pattern never reads a megabyte
    found = LINE.fullmatch(bounded)
    stamp, source, text = (
        (found["stamp"], found["source"], found["text"]) if found else ("", "", bounded)
    )
    cut = max(len(line) - (len(bounded) - len(text)) - LINE_CHARS, 0)
    at = _parse(stamp)
    return {
        "at": at.isoformat() if at else "",
        "time": views.clock(at) if at else "",
        "source": source,
        "marker": source.startswith("deployd["),
        "text": safe(text[:LINE_CHARS]),
        "cut": cut,
    }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class Cursor:
    """Where a stream has got to: the last line shown (its stamp and a digest of it) and
    how many copies of it came in a row; or, with no digest, a moment (the page had no
    line: every line stamped from then on is new)."""

    stamp: str
    seen: int = 0
    digest: str = ""

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        found = CURSOR.fullmatch((raw or "").strip())
        if found is None or _parse(found[1]) is None or bool(found[3]) != (found[2] != "0"):
            return None
        return cls(found[1], int(found[2]), found[3] or "")

    @classmethod
    def now(cls) -> Cursor:
        return cls(_stamp(datetime.now(UTC)))

    @classmethod
    def after(cls, lines: list[str], before: Cursor) -> Cursor:
        """The cursor past `lines` (those read), or `before` (the moment before they were
        read) when none has a stamp."""
        cursor: Cursor | None = None
        for line in lines:
            cursor = _past(cursor, line)
        return cursor or before

    def text(self) -> str:
        return f"{self.stamp}~{self.seen}" + (f"~{self.digest}" if self.digest else "")

    def since(self, now: datetime) -> str | None:
        """A span the daemon takes that reaches back to a little before the stamp."""
        at = _parse(self.stamp) or now
        seconds = max(math.ceil((now - at).total_seconds()), 0) + 2
        return f"{seconds}s" if seconds < 1_000_000 else None


def digest(line: str) -> str:
    return hashlib.sha256(line.encode(errors="replace")).hexdigest()[:12]


def _past(cursor: Cursor | None, line: str) -> Cursor | None:
    """The cursor once `line` has been sent (a line without a stamp leaves it)."""
    stamp = stamp_of(line)
    if stamp is None:
        return cursor
    mark = digest(line)
    if cursor is not None and cursor.stamp == stamp and cursor.digest == mark:
        return Cursor(stamp, cursor.seen + 1, mark)
    return Cursor(stamp, 1, mark)


class Resume:
    """Skips what a resumed stream sends again. The daemon sends the lines since a little
    before the cursor's stamp in the log's order, which is the order they were shown in:
    every line up to the cursor's line (its `seen`-th copy) was shown. Stamps alone would
    not do: processes write the one log side by side, a few milliseconds out of order.

    Should the cursor's line be gone (the log rotated), a line stamped a second after it
    ends the skipping. A moment's cursor skips the lines stamped before it."""

    def __init__(self, cursor: Cursor | None) -> None:
        self.cursor = cursor
        self.matched = 0
        self.late = ""
        if cursor is not None:
            at = _parse(cursor.stamp)
            self.late = _stamp(at + LATE) if at else ""

    def fresh(self, line: str) -> bool:
        cursor = self.cursor
        if cursor is None:
            return True
        stamp = stamp_of(line)
        if not cursor.digest:  # a moment
            if stamp is None or stamp >= cursor.stamp:
                self.cursor = None
                return True
            return False
        if stamp is not None and stamp > self.late:
            self.cursor = None
            return True
        if stamp == cursor.stamp and digest(line) == cursor.digest:
            self.matched += 1
            if self.matched >= cursor.seen:
                self.cursor = None
        return False


@dataclass(frozen=True)
class Filters:
    process: str | None
    since: str | None
    lines: int
    search: str
    build: int | None

    def keeps(self, line: str) -> bool:
        return not self.search or self.search.lower() in line.lower()

    def query(self) -> str:
        """The live stream's query: what it filters by (since is for the first lines)."""
        parts = [f"process={self.process}"] if self.process else []
        if self.search:
            parts.append(f"q={quote(self.search)}")
        return "&".join(parts)


def filters(request: Request, name: str) -> Filters:
    """The form's filters, checked by the protocol's own models; 400 in words when one is
    not what it may be."""
    query = request.query_params
    process = query.get("process", "").strip() or None
    since = query.get("since", "").strip() or None
    search = query.get("q", "")[: SEARCH_CHARS * 2].strip()
    if len(search) > SEARCH_CHARS:
        raise HTTPException(400, f"search for at most {SEARCH_CHARS} characters")
    try:
        lines = int(query.get("lines", "").strip() or LINES_CHOICES[0])
        raw_build = query.get("build", "").strip().removeprefix("v")
        build = int(raw_build) if raw_build else None
    except ValueError:
        raise HTTPException(400, "lines and build must be numbers") from None
    try:
        LogsReadParams(app=name, lines=lines, build=build, process=process, since=since)
    except ValidationError as exc:
        raise HTTPException(400, explain(exc)) from None
    return Filters(process, since, lines, search, build)


@page
async def show(visit: Visit) -> Response:
    name = app_name(visit.request)
    chosen = filters(visit.request, name)
    before = Cursor.now()
    asked = LogsReadParams(
        app=name,
        lines=SEARCH_LINES if chosen.search else chosen.lines,
        build=chosen.build,
        process=chosen.process,
        since=chosen.since,
    )
    header, read, releases = await asyncio.gather(
        app_header(visit, name),
        visit.daemon.call(LogsReadResult, "logs.read", asked),
        visit.daemon.call(
            ReleasesListResult,
            "releases.list",
            ReleasesListParams(app=name, limit=RELEASES_SHOWN),
        ),
    )
    lines = [line for line in read.lines if chosen.keeps(line)][-chosen.lines :]
    live = chosen.build is None
    stream = f"/apps/{name}/logs/events" + (f"?{chosen.query()}" if chosen.query() else "")
    return visit.render(
        "logs.html",
        {
            **header,
            "tab": "logs",
            "filters": chosen,
            "source": read.source,
            "lines": [shown(line) for line in lines],
            "searched": SEARCH_LINES if chosen.search else None,
            "releases": [r.version for r in releases.releases],
            "lines_choices": LINES_CHOICES,
            "since_choices": SINCE_CHOICES,
            "stream": stream if live else "",
            "cursor": Cursor.after(lines, before).text(),
        },
    )


async def events(request: Request) -> Response:
    """The new lines, as the person logged in, from where the browser got to."""
    session = session_of(request)
    if session is None:
        return _once("signed-out", {"login": "/login"})
    name = app_name(request)
    query = request.query_params
    process = query.get("process", "").strip() or None
    search = query.get("q", "").strip()[:SEARCH_CHARS]
    cursor = Cursor.parse(request.headers.get("last-event-id")) or Cursor.parse(query.get("after"))
    try:
        params = LogsFollowParams(app=name, process=process, lines=0)
    except ValidationError as exc:
        return _once("ended", {"message": explain(exc)})
    if cursor is not None:
        since = cursor.since(datetime.now(UTC))
        params = LogsFollowParams(app=name, process=process, lines=REPLAY_LINES, since=since)
    here = web(request)
    relay = _relay(here, session, params, Filters(process, None, 0, search, None), cursor)
    return StreamingResponse(relay, media_type="text/event-stream", headers=HEADERS)


def _once(kind: str, data: dict[str, Any]) -> Response:
    return Response(views.sse(kind, data), media_type="text/event-stream", headers=HEADERS)


def frame(batch: list[str], cursor: Cursor | None) -> str:
    """One `lines` event; its id the cursor past them (none while no line had a stamp)."""
    data = {"lines": [shown(line) for line in batch]}
    head = f"id: {cursor.text()}\n" if cursor else ""
    return head + views.sse("lines", data)


async def _relay(
    here: Web, session: Session, params: LogsFollowParams, chosen: Filters, start: Cursor | None
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    ends = time.monotonic() + here.stream_seconds
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    resume = Resume(start)
    cursor = start
    try:
        async with here.link.as_user(session.token) as daemon:
            _, items = await daemon.stream("logs.follow", params)
            pump = asyncio.create_task(_pump(items, queue))
            try:
                yield views.sse("live", {"user": daemon.identity.user})
                while (left := ends - time.monotonic()) > 0:
                    try:
                        async with asyncio.timeout(min(KEEPALIVE_SECONDS, left)):
                            first = await queue.get()
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    batch, done = _drain(first, queue)
                    kept = [line for line in batch if resume.fresh(line) and chosen.keeps(line)]
                    for at in range(0, len(kept), BATCH):
                        chunk = kept[at : at + BATCH]
                        for line in chunk:
                            cursor = _past(cursor, line)
                        yield frame(chunk, cursor)
                    if done:
                        return  # the daemon ended it: the browser comes back with its id
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
    except TokenRefused:
        here.sessions.close(session.id)
        yield views.sse("signed-out", {"login": "/login"})
    except RpcError as exc:
        if exc.kind in (ErrorKind.NOT_FOUND, ErrorKind.FORBIDDEN, ErrorKind.INVALID):
            yield views.sse("ended", {"message": exc.message})
        log.info("a log stream of %s ended: %s", session.user, exc)
    except (DaemonUnreachable, TimeoutError) as exc:
        log.info("a log stream of %s ended: %s", session.user, exc)


def _drain(first: str | None, queue: asyncio.Queue[str | None]) -> tuple[list[str], bool]:
    """`first` and the lines already waiting; whether the daemon's stream has ended."""
    if first is None:
        return [], True
    batch = [first]
    while not queue.empty() and len(batch) < BATCH * 5:
        line = queue.get_nowait()
        if line is None:
            return batch, True
        batch.append(line)
    return batch, False


async def _pump(items: AsyncIterator[dict[str, Any]], queue: asyncio.Queue[str | None]) -> None:
    try:
        async for item in items:
            try:
                queue.put_nowait(LogLine.model_validate(item).line)
            except ValidationError:
                continue
    except (RpcError, DaemonUnreachable) as exc:
        log.info("the daemon ended a log stream: %s", exc)
    finally:
        queue.put_nowait(None)
