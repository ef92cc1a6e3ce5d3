"""`logs.read` and `logs.follow`: an app's runtime output and its builds' output."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from deployd.protocol.apps import (
    LogLine,
    LogsFollowParams,
    LogsFollowStarted,
    LogsReadParams,
    LogsReadResult,
)
from deployd.protocol.errors import not_found
from deployd.runtime.logs import tail
from deployd.store import apps as app_store

from .core import Caller, Core

POLL_SECONDS = 0.2


async def _live_slot(core: Core, app: str) -> str:
    async with core.pool.connection() as conn:
        row = await app_store.get(conn, app)
    if row is None:
        raise not_found(f"no app named {app}")
    return row["live_slot"] or "blue"


def _slot_log(core: Core, app: str, slot: str) -> Path:
    return core.platform.paths.app_logs(app) / f"{slot}.log"


async def read(core: Core, caller: Caller, params: LogsReadParams) -> LogsReadResult:
    slot = await _live_slot(core, params.app)
    if params.build is not None:
        path = core.platform.paths.app_logs(params.app) / f"build-{params.build}.log"
        if not path.exists():
            raise not_found(f"{params.app} has no build log for release {params.build}")
        source = f"build of release {params.build}"
    else:
        path, source = _slot_log(core, params.app, slot), f"{slot} slot"
    return LogsReadResult(source=source, lines=await asyncio.to_thread(tail, path, params.lines))


async def follow(
    core: Core, caller: Caller, params: LogsFollowParams
) -> tuple[LogsFollowStarted, AsyncIterator[LogLine]]:
    slot = await _live_slot(core, params.app)

    async def lines() -> AsyncIterator[LogLine]:
        current = slot
        path = _slot_log(core, params.app, current)
        for line in await asyncio.to_thread(tail, path, params.lines) if params.lines else []:
            yield LogLine(slot=current, line=line)
        position = path.stat().st_size if path.exists() else 0
        pending = b""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            live = await _live_slot(core, params.app)
            if live != current:  # a deploy switched slots: follow the new live one
                current, path, position, pending = live, _slot_log(core, params.app, live), 0, b""
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size < position:  # rotated or truncated
                position = 0
            if size == position:
                continue
            with path.open("rb") as fh:
                fh.seek(position)
                chunk = fh.read(size - position)
            position = size
            *complete, pending = (pending + chunk).split(b"\n")
            for raw in complete:
                yield LogLine(slot=current, line=raw.decode(errors="replace"))

    return LogsFollowStarted(following=f"{params.app} ({slot} slot)"), lines()
