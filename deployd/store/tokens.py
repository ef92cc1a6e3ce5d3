"""Bearer credentials (API tokens and login sessions), stored as SHA-256 digests only."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]

_COLUMNS = """t.id, u.name AS user, t.kind, t.label, t.created_at, t.expires_at,
              t.last_used_at"""


async def insert(
    conn: Conn, *, user: str, kind: str, label: str, digest: bytes, expires_at: datetime
) -> Row:
    cursor = await conn.execute(
        f"""WITH t AS (
                INSERT INTO tokens (user_id, kind, label, digest, expires_at)
                SELECT id, %s, %s, %s, %s FROM users WHERE name = %s
                RETURNING *)
            SELECT {_COLUMNS} FROM t JOIN users u ON u.id = t.user_id""",
        (kind, label, digest, expires_at, user),
    )
    row = await cursor.fetchone()
    if row is None:
        raise LookupError(user)
    return row


async def list_for(conn: Conn, user: str | None) -> list[Row]:
    cursor = await conn.execute(
        f"""SELECT {_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id
            WHERE (%(user)s::text IS NULL OR u.name = %(user)s) AND t.expires_at > now()
            ORDER BY t.id""",
        {"user": user},
    )
    return await cursor.fetchall()


async def get(conn: Conn, token_id: int) -> Row | None:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = %s",
        (token_id,),
    )
    return await cursor.fetchone()


async def delete(conn: Conn, token_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM tokens WHERE id = %s", (token_id,))
    return cursor.rowcount == 1


async def use(conn: Conn, digest: bytes) -> Row | None:
    """The user behind an unexpired token, marking it used; None when unknown or expired."""
    cursor = await conn.execute(
        """UPDATE tokens t SET last_used_at = now()
           FROM users u
           WHERE t.digest = %s AND t.expires_at > now() AND u.id = t.user_id
           RETURNING u.name, u.role, u.unix_user, t.kind""",
        (digest,),
    )
    return await cursor.fetchone()


async def purge_expired(conn: Conn) -> int:
    cursor = await conn.execute("DELETE FROM tokens WHERE expires_at <= now()")
    return cursor.rowcount
