"""Scheduled backups with the scheduler's clock moved by the test (no sleeps), against a
real apps' PostgreSQL and deployd's own database: a schedule fires once per scheduled
time, runs missed while the daemon was down make one run, scheduled backups beyond
`keep` are pruned (file and all), and a database whose backups keep failing is said to be
overdue, once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import psycopg

from deployd.domain.databases import parse_schedule
from deployd.engine import databases as engine
from deployd.engine.platform import Platform
from deployd.monitor.backups import BackupScheduler
from deployd.store import databases as store
from deployd.store.cluster import PrivateCluster
from tests.support.databases import Stage, run_staged


async def fill(platform: Platform, name: str) -> None:
    row = await engine.get(platform, name)
    url = (await engine.credentials(platform, row)).url
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 50) g")


async def events(platform: Platform, kind: str) -> list[str]:
    async with platform.pool.connection() as conn:
        cursor = await conn.execute("SELECT message FROM events WHERE kind = %s", (kind,))
        return [r["message"] for r in await cursor.fetchall()]


async def fires_once_and_keeps_the_newest(platform: Platform) -> None:
    name = "sched-keep"
    await engine.create(platform, name, "test")
    await fill(platform, name)
    async with platform.pool.connection() as conn:
        await store.set_schedule(conn, name, parse_schedule(["hourly", ":00"], keep=2))
    now = datetime.now(UTC)
    clock = [now]
    scheduler = BackupScheduler(platform, clock=lambda: clock[0])

    assert await scheduler.tick() == []  # set after this hour's run
    async with platform.pool.connection() as conn:  # the first tick measured it
        cursor = await conn.execute(
            "SELECT size_bytes, connections FROM database_sizes WHERE database = %s", (name,)
        )
        measured = await cursor.fetchall()
    assert len(measured) == 1 and measured[0]["size_bytes"] > 0
    clock[0] = now + timedelta(hours=1)
    first = await scheduler.tick()
    assert len(first) == 1
    assert await scheduler.tick() == []  # once per scheduled time
    made = list(first)
    for hours in (2, 3):
        clock[0] = now + timedelta(hours=hours)
        made += await scheduler.tick()
    assert len(made) == 3
    async with platform.pool.connection() as conn:
        rows = {b.id: b for b in await store.backups(conn, name)}
    assert [rows[i].status.value for i in made] == ["deleted", "verified", "verified"]
    assert all(rows[i].trigger.value == "scheduled" for i in made)
    assert not engine.backup_file(platform, rows[made[0]]).exists()  # pruned, file and all
    assert engine.backup_file(platform, rows[made[2]]).exists()

    clock[0] = now + timedelta(hours=13)  # the daemon was down for ten scheduled runs
    assert len(await scheduler.tick()) == 1
    assert await scheduler.tick() == []
    await engine.drop(platform, name, "test")


async def failing_backups_are_overdue_once(
    platform: Platform,
) -> None:
    name = "sched-fail"
    await engine.create(platform, name, "test")
    async with platform.pool.connection() as conn:
        await store.set_schedule(conn, name, parse_schedule(["hourly", ":30"]))
    broken = replace(platform.db_tools, bindir=Path("/nonexistent"))
    cast(Stage, platform).db_tools = broken
    now = datetime.now(UTC)
    clock = [now + timedelta(hours=1)]
    scheduler = BackupScheduler(platform, clock=lambda: clock[0])
    failed = await scheduler.tick()
    async with platform.pool.connection() as conn:
        rows = await store.backups(conn, name)
    assert [r.id for r in rows] == failed and rows[0].status.value == "failed"
    assert "No such file" in (rows[0].error or "")
    assert await events(platform, "db.backup_overdue") == []  # one hour: not yet
    clock[0] = now + timedelta(hours=3)
    await scheduler.tick()
    clock[0] = now + timedelta(hours=3, minutes=10)
    await scheduler.tick()
    overdue = await events(platform, "db.backup_overdue")
    assert len(overdue) == 1 and "sched-fail has had no verified backup ever" in overdue[0]
    await platform.databases.drop(name)


async def half_made_backups_fail_at_start(platform: Platform) -> None:
    name = "sched-crash"
    await engine.create(platform, name, "test")
    async with platform.pool.connection() as conn:
        row = await store.start_backup(conn, name, store.BackupTrigger.MANUAL, "test")
    partial = engine.backup_dir(platform, name) / f".{row.id}.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a dump")
    admin = await platform.databases.admin_conninfo()
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        # a restore the daemon stopped in: the live one refusing, the staging copy made
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await conn.execute(f'CREATE DATABASE "{name}-restoring-20261129" OWNER "{name}"')
    await BackupScheduler(platform).recover()
    async with platform.pool.connection() as conn:
        after = await store.backup(conn, row.id)
    assert after is not None and after.status.value == "failed"
    assert "daemon stopped" in (after.error or "") and not partial.exists()
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT datname, datallowconn FROM pg_database WHERE datname LIKE %s",
            (f"{name}%",),
        )
        assert await cursor.fetchall() == [(name, True)]
    await platform.databases.drop(name)


def test_a_schedule_fires_once_per_time_and_keeps_the_newest(
    fresh_db: str, apps_pg: PrivateCluster
) -> None:
    run_staged(fresh_db, apps_pg, fires_once_and_keeps_the_newest)


def test_backups_that_keep_failing_make_the_database_overdue_once(
    fresh_db: str, apps_pg: PrivateCluster
) -> None:
    run_staged(fresh_db, apps_pg, failing_backups_are_overdue_once)


def test_a_backup_the_daemon_stopped_in_is_failed_at_start(
    fresh_db: str, apps_pg: PrivateCluster
) -> None:
    run_staged(fresh_db, apps_pg, half_made_backups_fail_at_start)
