"""The sizes series of the apps' databases stays small: five-minute samples for 35 days,
then one an hour, nothing after 400 days (against a real PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from deployd.config import resource_dir
from deployd.store import databases as store
from deployd.store import migrate


async def _thinned(conninfo: str) -> tuple[int, list[datetime]]:
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        await migrate.migrate(conn, resource_dir("migrations"))
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        for days in (1, 40, 500):  # three in one hour, one in the next
            for minutes in (10, 20, 30, 70):
                await conn.execute(
                    "INSERT INTO database_sizes (database, at, size_bytes, connections)"
                    " VALUES ('shopdb', %s, 1, 0)",
                    (hour - timedelta(days=days) + timedelta(minutes=minutes),),
                )
        removed = await store.thin_sizes(conn)
        cursor = await conn.execute("SELECT at FROM database_sizes ORDER BY at")
        return removed, [row["at"] for row in await cursor.fetchall()]


def test_old_samples_are_thinned_to_one_an_hour_and_dropped_after_a_year(fresh_db: str) -> None:
    removed, left = asyncio.run(_thinned(fresh_db))
    now = datetime.now(UTC)
    recent = [at for at in left if now - at < timedelta(days=35)]
    older = [at for at in left if now - at >= timedelta(days=35)]
    assert len(recent) == 4  # as sampled
    assert len(older) == 2 and older[0].minute == 10  # the first of each of their hours
    assert all(now - at < timedelta(days=400) for at in left)
    assert removed == 2 + 4
