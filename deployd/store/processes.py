"""The processes of each slot, the formation of each app, and the slots' web ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from deployd.domain.formation import ProcessName

from .db import Row

Conn = AsyncConnection[Row]


@dataclass(frozen=True, slots=True)
class ProcessRow:
    app: str
    slot: str
    name: ProcessName
    release_id: int | None
    release: int | None
    """The release's number, as users know it (v<release>)."""
    port: int | None
    pid: int | None
    pid_started_at: float | None
    started_at: datetime
    restarts: int
    next_restart_at: datetime | None
    last_exit: str | None
    health_failures: int


_COLUMNS = """app, slot, type, index, release_id, port, pid, pid_started_at, started_at,
              restarts, next_restart_at, last_exit, health_failures,
              (SELECT version FROM releases WHERE releases.id = processes.release_id) AS release"""


def _row(row: Row) -> ProcessRow:
    return ProcessRow(
        app=row["app"],
        slot=row["slot"],
        name=ProcessName(row["type"], row["index"]),
        release_id=row["release_id"],
        release=row["release"],
        port=row["port"],
        pid=row["pid"],
        pid_started_at=row["pid_started_at"],
        started_at=row["started_at"],
        restarts=row["restarts"],
        next_restart_at=row["next_restart_at"],
        last_exit=row["last_exit"],
        health_failures=row["health_failures"],
    )


async def of_slot(conn: Conn, app: str, slot: str) -> list[ProcessRow]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM processes WHERE app = %s AND slot = %s ORDER BY type, index",
        (app, slot),
    )
    return [_row(r) for r in await cursor.fetchall()]


async def of_all(conn: Conn) -> list[ProcessRow]:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM processes ORDER BY app, slot, type, index")
    return [_row(r) for r in await cursor.fetchall()]


async def started(
    conn: Conn,
    app: str,
    slot: str,
    name: ProcessName,
    *,
    release_id: int,
    port: int | None,
    pid: int,
    pid_started_at: float,
    restarts: int = 0,
) -> None:
    """A process was started (or started again): its handle, a fresh health record."""
    await conn.execute(
        """INSERT INTO processes (app, slot, type, index, release_id, port, pid,
                                  pid_started_at, started_at, restarts)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now(), %s)
           ON CONFLICT (app, slot, type, index) DO UPDATE SET
               release_id = EXCLUDED.release_id, port = EXCLUDED.port, pid = EXCLUDED.pid,
               pid_started_at = EXCLUDED.pid_started_at, started_at = now(),
               restarts = EXCLUDED.restarts, next_restart_at = NULL, health_failures = 0""",
        (app, slot, name.type, name.index, release_id, port, pid, pid_started_at, restarts),
    )


async def crashed(
    conn: Conn,
    app: str,
    slot: str,
    name: ProcessName,
    *,
    restarts: int,
    next_restart_at: datetime | None,
    last_exit: str,
) -> None:
    await conn.execute(
        """UPDATE processes SET pid = NULL, pid_started_at = NULL, restarts = %s,
                                next_restart_at = %s, last_exit = %s
           WHERE app = %s AND slot = %s AND type = %s AND index = %s""",
        (restarts, next_restart_at, last_exit, app, slot, name.type, name.index),
    )


async def count_health_failure(
    conn: Conn, app: str, slot: str, name: ProcessName, failed: bool
) -> int:
    cursor = await conn.execute(
        """UPDATE processes SET health_failures = CASE WHEN %s THEN health_failures + 1 ELSE 0 END
           WHERE app = %s AND slot = %s AND type = %s AND index = %s RETURNING health_failures""",
        (failed, app, slot, name.type, name.index),
    )
    row = await cursor.fetchone()
    return int(row["health_failures"]) if row else 0


async def forget(conn: Conn, app: str, slot: str, name: ProcessName | None = None) -> None:
    """The slot's processes (or one of them) are stopped for good."""
    if name is None:
        await conn.execute("DELETE FROM processes WHERE app = %s AND slot = %s", (app, slot))
    else:
        await conn.execute(
            "DELETE FROM processes WHERE app = %s AND slot = %s AND type = %s AND index = %s",
            (app, slot, name.type, name.index),
        )


async def formation(conn: Conn, app: str) -> dict[str, int]:
    cursor = await conn.execute("SELECT type, count FROM formation WHERE app = %s", (app,))
    return {r["type"]: r["count"] for r in await cursor.fetchall()}


async def set_formation(conn: Conn, app: str, counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        await conn.execute(
            """INSERT INTO formation (app, type, count) VALUES (%s, %s, %s)
               ON CONFLICT (app, type) DO UPDATE SET count = EXCLUDED.count""",
            (app, kind, count),
        )


async def web_ports(conn: Conn, app: str, slot: str) -> list[int]:
    cursor = await conn.execute(
        "SELECT port FROM web_ports WHERE app = %s AND slot = %s ORDER BY index", (app, slot)
    )
    return [r["port"] for r in await cursor.fetchall()]


async def add_web_port(conn: Conn, app: str, slot: str, index: int, port: int) -> None:
    await conn.execute(
        "INSERT INTO web_ports (app, slot, index, port) VALUES (%s, %s, %s, %s)",
        (app, slot, index, port),
    )
