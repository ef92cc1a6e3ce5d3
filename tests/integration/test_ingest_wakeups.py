"""The access-log ingester is woken by a log's change, also after a quiet spell: the
fallback interval must not replace the watcher once it has once run out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deployd.monitor import traffic


class Watched:
    def __init__(self, directory: Path) -> None:
        self.directory = directory


def test_a_change_after_a_quiet_spell_wakes_the_ingester(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interval = 2.0
    monkeypatch.setattr(traffic, "FALLBACK_SECONDS", interval)

    async def scenario() -> None:
        wakeups = traffic.TrafficIngester._wakeups(Watched(tmp_path))  # type: ignore[arg-type]
        await anext(wakeups)  # the interval ran out once, with nothing written
        await asyncio.sleep(0.2)
        (tmp_path / "shop.log").write_text("a line\n")
        # woken by the write, well before the interval would come round again
        await asyncio.wait_for(anext(wakeups), timeout=interval * 0.75)
        await wakeups.aclose()

    asyncio.run(scenario())
