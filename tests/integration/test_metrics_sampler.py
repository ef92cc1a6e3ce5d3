"""The metrics sampler with its clock moved by the test: a row a minute for the host,
the data disk's levels said once each, and a release whose first ten minutes answer worse
than the hour before it is said to, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployd.domain import traffic
from deployd.engine.platform import Platform
from deployd.monitor.metrics import MetricsSampler
from deployd.store import apps as app_store
from deployd.store import releases as release_store
from deployd.store import traffic as traffic_store
from deployd.store.cluster import PrivateCluster
from deployd.store.traffic import Period
from tests.support.databases import run_staged


async def events(platform: Platform, kind: str) -> list[str]:
    async with platform.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT message FROM events WHERE kind = %s ORDER BY id", (kind,)
        )
        return [r["message"] for r in await cursor.fetchall()]


async def a_row_a_minute(platform: Platform) -> None:
    clock = [datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)]
    sampler = MetricsSampler(platform, clock=lambda: clock[0])
    for seconds in (5, 15, 25, 35, 45, 55):
        clock[0] = clock[0].replace(second=seconds)
        await sampler.sample()
    async with platform.pool.connection() as conn:
        cursor = await conn.execute("SELECT count(*) AS n FROM host_metrics")
        assert (await cursor.fetchone())["n"] == 0  # type: ignore[index]  # the minute is not over
    clock[0] = datetime(2026, 11, 29, 10, 1, 5, tzinfo=UTC)
    await sampler.sample()
    async with platform.pool.connection() as conn:
        cursor = await conn.execute("SELECT * FROM host_metrics")
        rows = await cursor.fetchall()
    assert len(rows) == 1 and rows[0]["at"] == datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert rows[0]["memory_total"] > rows[0]["memory_used"] > 0
    assert 0 < rows[0]["disk_percent"] <= 100


def test_the_host_gets_a_row_a_minute(fresh_db: str, apps_pg: PrivateCluster) -> None:
    run_staged(fresh_db, apps_pg, a_row_a_minute)


async def disk_levels(platform: Platform) -> None:
    sampler = MetricsSampler(platform)
    for percent in (50, 85, 86, 91, 95, 70, 82):
        await sampler._watch_disk(percent)
    said = await events(platform, "host.disk")
    assert [m.split(" is ")[1].split(" ")[0] for m in said] == ["85", "91", "82"]


def test_the_disk_levels_are_said_once_each_time_they_are_passed(
    fresh_db: str, apps_pg: PrivateCluster
) -> None:
    run_staged(fresh_db, apps_pg, disk_levels)


def traffic_of(requests: int, errors: int) -> traffic.Rollup:
    rollup = traffic.Rollup(requests=requests)
    rollup.statuses.update({200: requests - errors, 500: errors})
    rollup.latency[traffic.bucket(20)] = requests
    return rollup


async def worse_after_a_deploy(platform: Platform) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    live_at = now - timedelta(minutes=12)
    async with platform.pool.connection() as conn:
        await app_store.insert(
            conn, name="shop", source_kind="path", source="/srv/shop", branch=None,
            runtime="process", ports=[21500, 21501], source_uid=None,
        )  # fmt: skip
        release = await release_store.insert(
            conn, app="shop", ref=None, created_by="t", env_version=None
        )
        await conn.execute("UPDATE releases SET live_at = %s WHERE id = %s", (live_at, release.id))
        hour = {live_at - timedelta(minutes=m): traffic_of(100, 0) for m in range(1, 61)}
        await traffic_store.add(conn, "shop", Period.MINUTE, hour)
        after = {live_at + timedelta(minutes=m): traffic_of(50, 10) for m in range(10)}
        await traffic_store.add(conn, "shop", Period.MINUTE, after)
    sampler = MetricsSampler(platform)
    await sampler.judge_releases(now)
    await sampler.judge_releases(now)
    said = await events(platform, "traffic.regressed")
    assert len(said) == 1 and "v1 answers worse" in said[0] and "5xx rose" in said[0]
    assert "deployctl rollback shop" in said[0]


def test_a_release_worse_than_the_hour_before_is_said_once(
    fresh_db: str, apps_pg: PrivateCluster
) -> None:
    run_staged(fresh_db, apps_pg, worse_after_a_deploy)
