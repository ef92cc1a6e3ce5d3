"""The host's and apps' use of the machine, a row a minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]
KEPT = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class HostMinute:
    at: datetime
    cpu_percent: float
    memory_used: int
    memory_total: int
    load1: float
    disk_percent: float
    net_sent: int
    net_received: int


async def record(conn: Conn, host: HostMinute, apps: dict[str, tuple[float, int]]) -> None:
    await conn.execute(
        """INSERT INTO host_metrics (at, cpu_percent, memory_used, memory_total, load1,
                                     disk_percent, net_sent, net_received)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (at) DO NOTHING""",
        (
            host.at,
            host.cpu_percent,
            host.memory_used,
            host.memory_total,
            host.load1,
            host.disk_percent,
            host.net_sent,
            host.net_received,
        ),
    )
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """INSERT INTO app_metrics (app, at, cpu_percent, rss_bytes) VALUES (%s, %s, %s, %s)
               ON CONFLICT (app, at) DO NOTHING""",
            [(app, host.at, cpu, rss) for app, (cpu, rss) in apps.items()],
        )


async def prune(conn: Conn, now: datetime) -> None:
    await conn.execute("DELETE FROM host_metrics WHERE at < %s", (now - KEPT,))
    await conn.execute("DELETE FROM app_metrics WHERE at < %s", (now - KEPT,))


async def host_minutes(conn: Conn, since: datetime) -> list[HostMinute]:
    cursor = await conn.execute(
        """SELECT at, cpu_percent, memory_used, memory_total, load1, disk_percent, net_sent,
                  net_received FROM host_metrics WHERE at >= %s ORDER BY at""",
        (since,),
    )
    return [HostMinute(**r) for r in await cursor.fetchall()]


async def releases_to_judge(conn: Conn, since: datetime, until: datetime) -> list[Row]:
    """Releases that went live in [since, until) and were not compared yet."""
    cursor = await conn.execute(
        """SELECT id, app, version, live_at FROM releases
           WHERE live_at >= %s AND live_at < %s AND traffic_checked_at IS NULL""",
        (since, until),
    )
    return await cursor.fetchall()


async def judged(conn: Conn, release_id: int) -> None:
    await conn.execute(
        "UPDATE releases SET traffic_checked_at = now() WHERE id = %s", (release_id,)
    )
