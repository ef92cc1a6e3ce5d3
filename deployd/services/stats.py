"""`stats.show`: an app's (or every app's) requests over any range, from the rollups the
ingester keeps: minutes for a range up to six hours, hours up to two weeks, days beyond."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deployd.domain import traffic as rules
from deployd.domain.errors import DomainError
from deployd.domain.traffic import Rollup
from deployd.monitor.traffic import read_chunk
from deployd.protocol.errors import invalid, not_found
from deployd.protocol.stats import (
    AppStats,
    Entry,
    LivePoint,
    Point,
    StatsFollowParams,
    StatsFollowStarted,
    StatsParams,
    StatsResult,
    Totals,
)
from deployd.store import apps as app_store
from deployd.store import traffic as store
from deployd.store.traffic import Checkpoint, Period, Stored

from .core import Caller, Core


def resolution(since: datetime, until: datetime) -> Period:
    span = until - since
    if span <= timedelta(hours=6):
        return Period.MINUTE
    if span <= timedelta(days=14):
        return Period.HOUR
    return Period.DAY


def totals(rows: list[Stored]) -> tuple[Totals, Rollup]:
    whole = store.merged(rows)
    classes = whole.status_classes()
    requests = whole.requests
    return (
        Totals(
            requests=requests,
            bytes=whole.bytes,
            statuses=classes,
            errors_rate=classes.get("5xx", 0) / requests if requests else 0.0,
            p50_ms=rules.percentile(whole.latency, 0.50),
            p95_ms=rules.percentile(whole.latency, 0.95),
            p99_ms=rules.percentile(whole.latency, 0.99),
            visitors=sum(row.visitors for row in rows),
        ),
        whole,
    )


async def show(core: Core, caller: Caller, params: StatsParams) -> StatsResult:
    now = datetime.now(UTC)
    try:
        since, until = rules.parse_since(params.since, now)
    except DomainError as exc:
        raise invalid(str(exc)) from None
    period = resolution(since, until)
    start = period.start(since)
    async with core.pool.connection() as conn:
        if params.app is not None and await app_store.get(conn, params.app) is None:
            raise not_found(f"no app named {params.app}")
        found = await store.rollups(conn, params.app, period, start, until)
        unparsed = await store.unparsed(conn, params.app) if params.app else 0
        visitors = (
            await store.top_visitors(conn, params.app, since.date(), until.date(), params.limit)
            if params.app and params.by == "visitor"
            else []
        )
    apps = [AppStats(app=app, totals=totals(rows)[0]) for app, rows in sorted(found.items())]
    if params.app is None:
        return StatsResult(
            since=since,
            until=until,
            resolution=period.value,
            apps=apps,
            series=_summed(found),
            percentile_error=rules.ERROR,
        )
    rows = found.get(params.app, [])
    whole = totals(rows)[1]
    if not apps:
        apps = [AppStats(app=params.app, totals=totals([])[0])]
    return StatsResult(
        since=since,
        until=until,
        resolution=period.value,
        apps=apps,
        series=[_point(row.at, row.rollup) for row in rows],
        by=params.by,
        breakdown=_breakdown(whole, params, visitors),
        unparsed=unparsed,
        percentile_error=rules.ERROR,
    )


def _point(at: datetime, rollup: Rollup) -> Point:
    return Point(
        at=at,
        requests=rollup.requests,
        errors=sum(n for code, n in rollup.statuses.items() if code >= 500),
        p95_ms=rules.percentile(rollup.latency, 0.95),
    )


def _summed(found: dict[str, list[Stored]]) -> list[Point]:
    """Every app's periods added up, period by period (the dashboard's sparkline)."""
    periods: dict[datetime, list[Stored]] = {}
    for rows in found.values():
        for row in rows:
            periods.setdefault(row.at, []).append(row)
    return [_point(at, store.merged(rows)) for at, rows in sorted(periods.items())]


def _breakdown(whole: Rollup, params: StatsParams, visitors: list[tuple[str, int]]) -> list[Entry]:
    if params.by is None:
        return []
    if params.by == "visitor":
        return [Entry(key=key, requests=n) for key, n in visitors]
    counts: Counter[str] = {
        "path": whole.paths,
        "referrer": whole.referrers,
        "agent": whole.agents,
        "status": Counter({str(code): n for code, n in whole.statuses.items()}),
    }[params.by]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: params.limit]
    return [Entry(key=key, requests=n) for key, n in ranked]


LIVE_SECONDS = 1.0


async def follow(
    core: Core, caller: Caller, params: StatsFollowParams
) -> tuple[StatsFollowStarted, AsyncIterator[LivePoint]]:
    """Every second, the app's requests of that second, read from nginx's log as it grows
    (a rotation is followed); nothing is stored."""
    async with core.pool.connection() as conn:
        if await app_store.get(conn, params.app) is None:
            raise not_found(f"no app named {params.app}")
    nginx = core.platform.nginx
    path = nginx.access_log(params.app)

    async def points() -> AsyncIterator[LivePoint]:
        mark = await asyncio.to_thread(_end_of, path, params.app)
        while True:
            await asyncio.sleep(LIVE_SECONDS)
            chunk = await asyncio.to_thread(read_chunk, path, params.app, mark)
            mark = chunk.mark
            batch = await asyncio.to_thread(rules.ingest, chunk.lines, {}, nginx.check_token)
            second = Rollup()
            for rollup in batch.minutes.values():
                second.merge(rollup)
            yield LivePoint(
                at=datetime.now(UTC),
                requests=second.requests,
                bytes=second.bytes,
                statuses=second.status_classes(),
                p95_ms=rules.percentile(second.latency, 0.95),
            )

    return StatsFollowStarted(app=params.app), points()


def _end_of(path: Path, app: str) -> Checkpoint | None:
    """Where the log ends now: the live view starts there."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return None
    return Checkpoint(str(path), app, now.st_dev, now.st_ino, now.st_size)
