"""Rollups of apps' requests, the visitors of each day, and the ingester's checkpoints."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from deployd.domain import traffic as rules
from deployd.domain.traffic import BUCKETS, Rollup

from .db import Row

Conn = AsyncConnection[Row]


class Period(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    def start(self, at: datetime) -> datetime:
        if self is Period.MINUTE:
            return at.replace(second=0, microsecond=0)
        if self is Period.HOUR:
            return at.replace(minute=0, second=0, microsecond=0)
        return at.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    path: str
    app: str
    device: int
    inode: int
    offset: int


@dataclass(frozen=True, slots=True)
class Stored:
    """A rollup as kept: its period's start and the counts."""

    at: datetime
    rollup: Rollup
    visitors: int


def merged(rows: list[Stored]) -> Rollup:
    return rules.merged(row.rollup for row in rows)


async def checkpoint(conn: Conn, path: str) -> Checkpoint | None:
    cursor = await conn.execute(
        'SELECT path, app, device, inode, "offset" FROM log_checkpoints WHERE path = %s', (path,)
    )
    row = await cursor.fetchone()
    return Checkpoint(**row) if row is not None else None


async def save_checkpoint(
    conn: Conn, mark: Checkpoint, *, unparsed: int = 0, internal: int = 0
) -> None:
    await conn.execute(
        """INSERT INTO log_checkpoints (path, app, device, inode, "offset", unparsed, internal)
           VALUES (%s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (path) DO UPDATE SET device = EXCLUDED.device, inode = EXCLUDED.inode,
               "offset" = EXCLUDED."offset",
               unparsed = log_checkpoints.unparsed + EXCLUDED.unparsed,
               internal = log_checkpoints.internal + EXCLUDED.internal, updated_at = now()""",
        (mark.path, mark.app, mark.device, mark.inode, mark.offset, unparsed, internal),
    )


async def unparsed(conn: Conn, app: str) -> int:
    cursor = await conn.execute(
        "SELECT coalesce(sum(unparsed), 0) AS n FROM log_checkpoints WHERE app = %s", (app,)
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def salts(conn: Conn, days: set[date]) -> dict[date, bytes]:
    """The visitor salt of each day, made the first time it is asked for."""
    for day in days:
        await conn.execute(
            "INSERT INTO traffic_salts (day, salt) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (day, os.urandom(16)),
        )
    cursor = await conn.execute(
        "SELECT day, salt FROM traffic_salts WHERE day = ANY(%s)", (list(days),)
    )
    return {r["day"]: bytes(r["salt"]) for r in await cursor.fetchall()}


async def add(conn: Conn, app: str, period: Period, rollups: dict[datetime, Rollup]) -> None:
    """Add each rollup to the app's row of its period (made if new), in two round trips
    whatever their number; the caller holds the transaction the checkpoint is saved in."""
    if not rollups:
        return
    cursor = await conn.execute(
        """SELECT at, requests, bytes, statuses, latency, paths, referrers, agents, visitors
           FROM traffic WHERE app = %s AND period = %s AND at = ANY(%s) FOR UPDATE""",
        (app, period.value, list(rollups)),
    )
    existing = {row["at"]: row for row in await cursor.fetchall()}
    rows = []
    for at, rollup in rollups.items():
        row = existing.get(at)
        merged = _rollup(row) if row else Rollup()
        merged.merge(rollup)
        kept = merged.bounded()
        visitors = await _visitors(conn, app, period, at, rollup, row)
        rows.append(
            (
                app,
                period.value,
                at,
                kept.requests,
                kept.bytes,
                Jsonb({str(k): v for k, v in kept.statuses.items()}),
                kept.latency,
                Jsonb(dict(kept.paths)),
                Jsonb(dict(kept.referrers)),
                Jsonb(dict(kept.agents)),
                visitors,
            )
        )
    async with conn.cursor() as upsert:
        await upsert.executemany(
            """INSERT INTO traffic (app, period, at, requests, bytes, statuses, latency, paths,
                                    referrers, agents, visitors)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (app, period, at) DO UPDATE SET requests = EXCLUDED.requests,
                   bytes = EXCLUDED.bytes, statuses = EXCLUDED.statuses,
                   latency = EXCLUDED.latency, paths = EXCLUDED.paths,
                   referrers = EXCLUDED.referrers, agents = EXCLUDED.agents,
                   visitors = EXCLUDED.visitors""",
            rows,
        )


async def _visitors(
    conn: Conn, app: str, period: Period, at: datetime, rollup: Rollup, row: Row | None
) -> int:
    """Distinct visitors: a day's from its visitor table (where each visitor's requests
    are added up), a minute's or an hour's as seen by the batches that made it."""
    if period is not Period.DAY:
        return (row["visitors"] if row else 0) + len(rollup.visitors)
    day = at.date()
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM traffic_visitors WHERE app = %s AND day = %s", (app, day)
    )
    stored = await cursor.fetchone()
    room = MAX_VISITORS_PER_DAY - (int(stored["n"]) if stored else 0)
    if room <= 0:  # kept: the day's visitors so far; new ones count in minutes and hours only
        return MAX_VISITORS_PER_DAY
    fresh = list(rollup.visitors.items())[:room]
    await conn.execute(  # one statement for all of them: arrays, not a row each
        """INSERT INTO traffic_visitors (app, day, visitor, requests)
           SELECT %s, %s, v, n FROM unnest(%s::text[], %s::integer[]) AS batch (v, n)
           ON CONFLICT (app, day, visitor) DO UPDATE
           SET requests = traffic_visitors.requests + EXCLUDED.requests""",
        (app, day, [v for v, _ in fresh], [n for _, n in fresh]),
    )
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM traffic_visitors WHERE app = %s AND day = %s", (app, day)
    )
    found = await cursor.fetchone()
    return int(found["n"]) if found else 0


def _rollup(row: Row) -> Rollup:
    latency = list(row["latency"])
    latency += [0] * (len(BUCKETS) - len(latency))
    return Rollup(
        requests=row["requests"],
        bytes=row["bytes"],
        statuses=Counter({int(k): v for k, v in row["statuses"].items()}),
        latency=latency[: len(BUCKETS)],
        paths=Counter(row["paths"]),
        referrers=Counter(row["referrers"]),
        agents=Counter(row["agents"]),
    )


async def rollups(
    conn: Conn, app: str | None, period: Period, since: datetime, until: datetime
) -> dict[str, list[Stored]]:
    """Per app (or the one asked for), its rollups of `period` in [since, until)."""
    cursor = await conn.execute(
        """SELECT app, at, requests, bytes, statuses, latency, paths, referrers, agents, visitors
           FROM traffic WHERE period = %s AND at >= %s AND at < %s
             AND (%s::text IS NULL OR app = %s)
           ORDER BY app, at""",
        (period.value, since, until, app, app),
    )
    found: dict[str, list[Stored]] = {}
    for row in await cursor.fetchall():
        found.setdefault(row["app"], []).append(Stored(row["at"], _rollup(row), row["visitors"]))
    return found


async def top_visitors(
    conn: Conn, app: str, since: date, until: date, limit: int
) -> list[tuple[str, int]]:
    cursor = await conn.execute(
        """SELECT visitor, sum(requests) AS n FROM traffic_visitors
           WHERE app = %s AND day >= %s AND day <= %s
           GROUP BY visitor ORDER BY n DESC, visitor LIMIT %s""",
        (app, since, until, limit),
    )
    return [(r["visitor"], int(r["n"])) for r in await cursor.fetchall()]


MAX_VISITORS_PER_DAY = 20_000
"""Visitors kept per app per day (their rows are the analytics' largest part)."""

RETENTION = {
    Period.MINUTE: timedelta(days=14),
    Period.HOUR: timedelta(days=90),
    Period.DAY: timedelta(days=730),
}


async def prune(
    conn: Conn, now: datetime | None = None, retention: dict[Period, timedelta] | None = None
) -> int:
    """Rollups past their period's retention, visitors past the hours', and the salts of
    days that can no longer get lines (kept two days: a late log still counts)."""
    now = now or datetime.now(UTC)
    retention = retention or RETENTION
    removed = 0
    for period, kept in retention.items():
        cursor = await conn.execute(
            "DELETE FROM traffic WHERE period = %s AND at < %s", (period.value, now - kept)
        )
        removed += cursor.rowcount
    oldest_day = (now - retention[Period.HOUR]).date()
    await conn.execute("DELETE FROM traffic_visitors WHERE day < %s", (oldest_day,))
    salted = now.date() - timedelta(days=2)
    await conn.execute("DELETE FROM traffic_salts WHERE day < %s", (salted,))
    return removed


async def cap(conn: Conn, max_bytes: int) -> dict[str, int]:
    """Each app's analytics within `max_bytes`: its oldest minutes go first, then its
    oldest hours (days, a few hundred small rows, always stay). Returns the rows removed
    per app."""
    cursor = await conn.execute(
        """SELECT app, sum(bytes) AS bytes FROM (
               SELECT app, pg_column_size(t.*) AS bytes FROM traffic t
               UNION ALL
               SELECT app, pg_column_size(v.*) FROM traffic_visitors v) sizes
           GROUP BY app HAVING sum(bytes) > %s""",
        (max_bytes,),
    )
    removed: dict[str, int] = {}
    for row in await cursor.fetchall():
        excess = int(row["bytes"]) - max_bytes
        days = await conn.execute(  # the visitors of the oldest days go first
            """SELECT day, sum(pg_column_size(v.*)) AS bytes, count(*) AS n
               FROM traffic_visitors v WHERE app = %s GROUP BY day ORDER BY day""",
            (row["app"],),
        )
        for day in await days.fetchall():
            if excess <= 0:
                break
            await conn.execute(
                "DELETE FROM traffic_visitors WHERE app = %s AND day = %s", (row["app"], day["day"])
            )
            excess -= int(day["bytes"])
            removed[row["app"]] = removed.get(row["app"], 0) + int(day["n"])
        for period in (Period.MINUTE, Period.HOUR):
            if excess <= 0:
                break
            sized = await conn.execute(
                """SELECT at, pg_column_size(t.*) AS bytes FROM traffic t
                   WHERE app = %s AND period = %s ORDER BY at""",
                (row["app"], period.value),
            )
            cutoff, gone = None, 0
            for old in await sized.fetchall():
                if excess <= 0:
                    break
                cutoff, excess, gone = old["at"], excess - int(old["bytes"]), gone + 1
            if cutoff is not None:
                await conn.execute(
                    "DELETE FROM traffic WHERE app = %s AND period = %s AND at <= %s",
                    (row["app"], period.value, cutoff),
                )
                removed[row["app"]] = removed.get(row["app"], 0) + gone
    return removed
