"""How the ingester reads a log (whole lines only; truncated, deleted, rotated files) and
how analytics keep within their cap per app, on a real PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deployd.domain import traffic
from deployd.engine.platform import Platform
from deployd.monitor.traffic import read_chunk
from deployd.store import traffic as store
from deployd.store.cluster import PrivateCluster
from deployd.store.traffic import Period
from tests.support.databases import run_staged


def test_only_whole_lines_are_read_and_the_rest_waits(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_text("one\ntwo\nthr")
    first = read_chunk(log, "web", None)
    assert first.lines == ["one", "two"] and first.mark.offset == 8
    assert read_chunk(log, "web", first.mark).lines == []  # "thr" is not a line yet
    with log.open("a") as out:
        out.write("ee\n")
    assert read_chunk(log, "web", first.mark).lines == ["three"]


def test_a_truncated_log_is_read_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_text("a\nb\nc\n")
    mark = read_chunk(log, "web", None).mark
    log.write_text("d\n")  # truncated, then written
    assert read_chunk(log, "web", mark).lines == ["d"]


def test_a_rotated_log_is_finished_before_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_text("a\n")
    mark = read_chunk(log, "web", None).mark
    with log.open("a") as out:
        out.write("b\n")
    os.replace(log, tmp_path / "web.log.1")
    log.write_text("c\n")
    rest = read_chunk(log, "web", mark)
    assert rest.lines == ["b"] and rest.more  # the old file's last line, then...
    assert read_chunk(log, "web", rest.mark).lines == ["c"]


def test_a_deleted_log_reads_nothing_and_breaks_nothing(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_text("a\n")
    mark = read_chunk(log, "web", None).mark
    log.unlink()
    assert read_chunk(log, "web", mark).lines == []


async def capped(platform: Platform) -> None:
    rollup = traffic.Rollup(requests=10, bytes=100)
    for i in range(40):  # the top lists at their fullest: the largest rows there are
        rollup.paths[f"/{i:03d}" + "p" * 500] = 1
        rollup.agents[f"agent {i:03d}" + "a" * 500] = 1
    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with platform.pool.connection() as conn:
        minutes = {start + timedelta(minutes=m): rollup for m in range(300)}
        await store.add(conn, "big", Period.MINUTE, minutes)
        await store.add(conn, "small", Period.MINUTE, {start: traffic.Rollup(requests=1)})
        size = "SELECT app, sum(pg_column_size(t.*)) AS bytes FROM traffic t GROUP BY app"
        before = {r["app"]: r["bytes"] for r in await (await conn.execute(size)).fetchall()}
        limit = before["big"] // 3
        removed = await store.cap(conn, limit)
        after = {r["app"]: r["bytes"] for r in await (await conn.execute(size)).fetchall()}
        left = await store.rollups(conn, "big", Period.MINUTE, start, start + timedelta(days=1))
    assert after["big"] <= limit and removed["big"] > 0 and "small" not in removed
    assert after["small"] == before["small"]
    kept = [row.at for row in left["big"]]
    assert kept[-1] == start + timedelta(minutes=299)  # the newest stay, the oldest went
    assert kept[0] > start


def test_an_apps_analytics_stay_within_their_cap(fresh_db: str, apps_pg: PrivateCluster) -> None:
    run_staged(fresh_db, apps_pg, capped)


async def pruned(platform: Platform) -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    rollup = traffic.Rollup(requests=1)
    async with platform.pool.connection() as conn:
        for days in (20, 10, 1):
            at = now - timedelta(days=days)
            await store.add(conn, "web", Period.MINUTE, {at: rollup})
            await store.add(conn, "web", Period.HOUR, {at: rollup})
        await store.prune(conn, now)  # minutes 14 days, hours 90
        minutes = await store.rollups(conn, "web", Period.MINUTE, now - timedelta(days=30), now)
        hours = await store.rollups(conn, "web", Period.HOUR, now - timedelta(days=30), now)
        assert len(minutes["web"]) == 2 and len(hours["web"]) == 3
        shorter = {Period.MINUTE: timedelta(days=5), Period.HOUR: timedelta(days=15),
                   Period.DAY: timedelta(days=730)}  # fmt: skip
        await store.prune(conn, now, shorter)
        minutes = await store.rollups(conn, "web", Period.MINUTE, now - timedelta(days=30), now)
        hours = await store.rollups(conn, "web", Period.HOUR, now - timedelta(days=30), now)
    assert [r.at for r in minutes["web"]] == [now - timedelta(days=1)]
    assert len(hours["web"]) == 2


def test_rollups_go_when_their_retention_ends(fresh_db: str, apps_pg: PrivateCluster) -> None:
    run_staged(fresh_db, apps_pg, pruned)
