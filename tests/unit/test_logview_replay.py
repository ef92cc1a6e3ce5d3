"""The log viewer skips lines it has already shown only while a resumed stream replays them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from deployctl.tui.daemon import Daemon
from deployctl.tui.logview import LogView

STAMP = "2026-11-29T22:00:00.123Z"


class Reconnected:
    """Stands in for the client of a resumed stream: `_open` only asks it for the stream."""

    async def stream(self, method: str, params: Any) -> tuple[None, AsyncIterator[Any]]:
        async def nothing() -> AsyncIterator[Any]:
            return
            yield

        return None, nothing()


def view_after(*lines: str) -> LogView:
    view = LogView(Daemon(Path("/nonexistent")), "shop")
    for line in lines:
        assert not view._already_seen(line)
        view._last_stamp = line[: len(STAMP)]
        view.buffer.append(line)  # as `add` does, without the paint it schedules
    return view


def test_a_line_printed_twice_in_a_millisecond_is_shown_twice() -> None:
    line = f"{STAMP} web.1[v1]: ping"
    view_after(line, line)


@pytest.mark.asyncio
async def test_a_resumed_stream_skips_what_was_shown_then_shows_everything() -> None:
    shown = f"{STAMP} web.1[v1]: ping"
    view = view_after("2026-11-29T21:59:59.000Z web.1[v1]: earlier", shown)
    await view._open(Reconnected())  # type: ignore[arg-type]
    assert view._already_seen("2026-11-29T21:59:59.000Z web.1[v1]: earlier")
    assert view._already_seen(shown)
    assert not view._already_seen(f"{STAMP} web.1[v1]: pong"), "same stamp, not shown yet"
    newer = "2026-11-29T22:00:00.124Z web.1[v1]: ping"
    assert not view._already_seen(newer)
    assert not view._already_seen(newer), "past the replay every line is new"
