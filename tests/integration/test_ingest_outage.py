"""deployd's PostgreSQL stops while the ingester is saving what it read: nothing read in
the failed transaction counts, and once the database is back every line counts once."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import psycopg_pool

from deployd.monitor.traffic import TrafficIngester
from deployd.store import traffic as store
from deployd.store.cluster import PrivateCluster
from deployd.store.traffic import Period
from tests.support.daemon import world_readable_tempdir
from tests.support.databases import staged

LINES = 400_000


@dataclass
class FakeNginx:
    """The two things the ingester asks nginx: where the logs are, and the check token."""

    access_logs: Path
    check_token: str = "token"


def log_lines(count: int, at: float) -> str:
    return "".join(
        f"v1\t{at + i / 1000:.3f}\t{200 if i % 9 else 500}\t{100 + i % 5}\t0.002\tGET\tshop\t"
        f"/p/{i % 17}\t-\tagent\t203.0.113.{i % 200}\t-\n"
        for i in range(count)
    )


def test_a_database_outage_mid_ingestion_loses_and_doubles_nothing(
    apps_pg: PrivateCluster,
) -> None:
    base = world_readable_tempdir("deployd-outage-")
    state = PrivateCluster(base / "state", durable=True)
    state.init()
    state.start()
    state.ensure_database("outage")
    logs = base / "access"
    logs.mkdir()
    at = time.time() - LINES / 1000 - 60
    (logs / "shop.log").write_text(log_lines(LINES, at))

    async def main() -> None:
        async with staged(state.conninfo("outage"), apps_pg) as platform:
            platform.nginx = FakeNginx(logs)  # type: ignore[assignment]
            ingester = TrafficIngester(platform)
            reading = asyncio.create_task(ingester.ingest("shop", logs / "shop.log"))
            await asyncio.sleep(0.15)
            await asyncio.to_thread(state.stop)  # in the middle of it
            interrupted = False
            try:
                await reading
            except (psycopg.Error, psycopg_pool.PoolTimeout):
                interrupted = True
            assert interrupted, "the ingester finished before the database stopped"
            await asyncio.to_thread(state.start)
            for _ in range(3):  # the pool finds the database again
                with contextlib.suppress(psycopg.Error, psycopg_pool.PoolTimeout):
                    await ingester.ingest("shop", logs / "shop.log")
                    break
            async with platform.pool.connection() as conn:
                found = await store.rollups(
                    conn, "shop", Period.DAY, Period.DAY.start(_utc(at)), _utc(time.time())
                )
            assert sum(row.rollup.requests for row in found["shop"]) == LINES

    try:
        asyncio.run(main())
    finally:
        state.stop()
        shutil.rmtree(base, ignore_errors=True)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
