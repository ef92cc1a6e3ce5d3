"""An app's Logs tab: `GET /apps/{name}/logs` draws its recent lines (`logs.read`, with
the person's filters), and `GET /apps/{name}/logs/events` carries on with the new ones as
Server-Sent Events (`logs.follow`), as the person logged in.

The page gives the stream its first cursor (`loglines.Cursor`): that of its last line, or
the moment before it was read when it has none; each batch sent names the next. A stream
that comes back resumes from it, nothing shown twice, nothing lost (unless more than
`REPLAY_LINES` came while the browser was away).

The app's one runtime log holds every release's processes (the daemon writes it, not the
release), so the stream carries on across a deploy: the new release's lines follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from deployd.protocol.apps import (
    LogLine,
    LogsFollowParams,
    LogsReadParams,
    LogsReadResult,
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.common import explain

from . import streams, views
from .guard import Visit, page, session_of, web
from .link import UserConnection
from .loglines import Cursor, Resume, past, shown
from .pages import app_name
from .tabs import app_header

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
        return streams.once("signed-out", {"login": "/login"})
    try:
        name = app_name(request)
    except HTTPException as exc:  # an answer the browser would only ask again for
        return streams.once("ended", {"message": exc.detail})
    query = request.query_params
    process = query.get("process", "").strip() or None
    search = query.get("q", "").strip()[:SEARCH_CHARS]
    cursor = Cursor.parse(request.headers.get("last-event-id")) or Cursor.parse(query.get("after"))
    try:
        params = LogsFollowParams(app=name, process=process, lines=0)
    except ValidationError as exc:
        return streams.once("ended", {"message": explain(exc)})
    if cursor is not None:
        since = cursor.since(datetime.now(UTC))
        params = LogsFollowParams(app=name, process=process, lines=REPLAY_LINES, since=since)
    frames = _frames(Filters(process, None, 0, search, None), cursor)
    relay = streams.relay(web(request), session, "logs.follow", params, frames, "a log stream")
    return streams.respond(relay)


def frame(batch: list[str], cursor: Cursor | None) -> str:
    """One `lines` event; its id the cursor past them (none while no line had a stamp)."""
    data = {"lines": [shown(line) for line in batch]}
    head = f"id: {cursor.text()}\n" if cursor else ""
    return head + views.sse("lines", data)


def _frames(chosen: Filters, start: Cursor | None) -> streams.Frames:
    """Batches of the lines the filters keep, each with the cursor past it; the lines
    seen before the cursor (a resumed stream asks again from a little before) left out."""

    async def frames(daemon: UserConnection, _: Any, bursts: streams.Bursts) -> AsyncIterator[str]:
        resume = Resume(start)
        cursor = start
        yield views.sse("live", {"user": daemon.identity.user})
        async for burst in bursts:
            if burst is None:
                yield streams.KEEPALIVE
                continue
            kept = [line for line in _lines(burst) if resume.fresh(line) and chosen.keeps(line)]
            for at in range(0, len(kept), BATCH):
                chunk = kept[at : at + BATCH]
                for line in chunk:
                    cursor = past(cursor, line)
                yield frame(chunk, cursor)

    return frames


def _lines(burst: list[Any]) -> list[str]:
    lines = []
    for item in burst:
        try:
            lines.append(LogLine.model_validate(item).line)
        except ValidationError:
            continue
    return lines
