"""The event log: what happened, for `events.list` and for replay before a live stream."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from .db import Row

Conn = AsyncConnection[Row]


async def insert(
    conn: Conn,
    *,
    kind: str,
    message: str,
    app: str | None,
    actor: str | None,
    data: dict[str, Any],
) -> Row:
    cursor = await conn.execute(
        """INSERT INTO events (kind, app, actor, message, data) VALUES (%s, %s, %s, %s, %s)
           RETURNING id, at, kind, app, actor, message, data""",
        (kind, app, actor, message, Jsonb(data)),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


_FILTER = """(%(app)s::text IS NULL OR app = %(app)s)
    AND (%(kinds)s::text[] IS NULL OR EXISTS (
        SELECT 1 FROM unnest(%(kinds)s::text[]) k WHERE kind = k OR starts_with(kind, k || '.')))"""


async def newest(conn: Conn, *, kinds: list[str], app: str | None, limit: int) -> list[Row]:
    """The newest `limit` matching events, oldest first. A kind matches itself and below."""
    cursor = await conn.execute(
        f"""SELECT * FROM (
               SELECT id, at, kind, app, actor, message, data FROM events
               WHERE {_FILTER} ORDER BY id DESC LIMIT %(limit)s) newest
           ORDER BY id""",
        {"app": app, "kinds": kinds or None, "limit": limit},
    )
    return await cursor.fetchall()


async def after(
    conn: Conn,
    *,
    kinds: list[str],
    app: str | None,
    after_id: int,
    limit: int,
    job: int | None = None,
) -> list[Row]:
    """Matching events with an id above `after_id`, oldest first (replay); `job` keeps
    only the events of one deploy job."""
    cursor = await conn.execute(
        f"""SELECT id, at, kind, app, actor, message, data FROM events
            WHERE id > %(after)s AND {_FILTER}
              AND (%(job)s::bigint IS NULL OR data->>'job' = %(job)s::text)
            ORDER BY id LIMIT %(limit)s""",
        {"app": app, "kinds": kinds or None, "after": after_id, "limit": limit, "job": job},
    )
    return await cursor.fetchall()


async def last_id(conn: Conn) -> int:
    cursor = await conn.execute("SELECT coalesce(max(id), 0) AS id FROM events")
    row = await cursor.fetchone()
    return int(row["id"]) if row else 0
