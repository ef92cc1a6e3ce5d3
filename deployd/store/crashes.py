"""Crashes of live releases: the memory behind the crash-loop rule."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]


async def record(
    conn: Conn, *, app: str, release_id: int, slot: str, reason: str, process: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO crashes (app, release_id, slot, reason, process) VALUES (%s, %s, %s, %s, %s)",
        (app, release_id, slot, reason, process),
    )


async def times(conn: Conn, release_id: int) -> list[datetime]:
    cursor = await conn.execute(
        "SELECT at FROM crashes WHERE release_id = %s ORDER BY at", (release_id,)
    )
    return [r["at"] for r in await cursor.fetchall()]
