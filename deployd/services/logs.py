"""`logs.read` and `logs.follow`: an app's runtime output and its builds' output.

An app has one runtime log for all its processes and releases; each line names its process
and release, so filters work on the line and a switch of slots changes nothing here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from deployd.domain.durations import parse_duration
from deployd.engine import slots
from deployd.protocol.apps import (
    LogLine,
    LogsFollowParams,
    LogsFollowStarted,
    LogsReadParams,
    LogsReadResult,
)
from deployd.protocol.errors import not_found
from deployd.runtime.logs import matching, tail, tail_to
from deployd.store import apps as app_store
from deployd.store import releases as release_store

from .core import Caller, Core

POLL_SECONDS = 0.2
MAX_CHUNK = 1024 * 1024
"""At most this much new output is read per poll (a burst is read over several polls)."""


async def _known(core: Core, app: str) -> None:
    async with core.pool.connection() as conn:
        if await app_store.get(conn, app) is None:
            raise not_found(f"no app named {app}")


def _filter(process: str | None, since: str | None) -> Callable[[str], bool] | None:
    after = datetime.now(UTC) - parse_duration(since) if since is not None else None
    return matching(process, after)


async def read(core: Core, caller: Caller, params: LogsReadParams) -> LogsReadResult:
    await _known(core, params.app)
    if params.build is not None:
        async with core.pool.connection() as conn:
            release = await release_store.numbered(conn, params.app, params.build)
        if release is None:
            raise not_found(f"{params.app} has no release v{params.build}")
        path = core.platform.paths.app_logs(params.app) / f"build-{release.id}.log"
        if not path.exists():
            raise not_found(
                f"v{params.build} has no build log (config releases and rollbacks reuse an "
                "earlier release's build)"
            )
        lines = await asyncio.to_thread(tail, path, params.lines)
        return LogsReadResult(source=f"build of v{params.build}", lines=lines)
    keep = _filter(params.process, params.since)
    path = slots.log_file(core.platform, params.app)
    lines = await asyncio.to_thread(tail, path, params.lines, keep)
    return LogsReadResult(source="runtime", lines=lines)


async def follow(
    core: Core, caller: Caller, params: LogsFollowParams
) -> tuple[LogsFollowStarted, AsyncIterator[LogLine]]:
    await _known(core, params.app)
    keep = _filter(params.process, params.since)
    path = slots.log_file(core.platform, params.app)

    async def lines() -> AsyncIterator[LogLine]:
        # the recent lines and the offset after them in one read: a line written while
        # they are sent is the follower's first, not lost between the two
        recent, position = await asyncio.to_thread(tail_to, path, params.lines, keep)
        for line in recent:
            yield LogLine(line=line)
        pending = b""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            size = await asyncio.to_thread(_size, path)
            if size < position:  # rotated: the launchers continue at the file's new end
                position = 0
            if size == position:
                continue
            chunk = await asyncio.to_thread(_read, path, position, size)
            position += len(chunk)
            *complete, pending = (pending + chunk).split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace")
                if keep is None or keep(line):
                    yield LogLine(line=line)

    return LogsFollowStarted(following=params.app), lines()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(start)
        return fh.read(min(end - start, MAX_CHUNK))
