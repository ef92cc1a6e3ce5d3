"""What the vault keeps in the database: its canary and the encrypted columns it rotates.

Writers of encrypted values hold the vault lock shared for their transaction; a key rotation
holds it exclusively from before it re-encrypts until after it has retired the old key, so
no value is ever written under a key that is about to go away.
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]

VAULT_LOCK = 0x64657079_76617574  # "depy" "vaut": an advisory lock id of our own
ENCRYPTED = (("env_versions", ("app", "version")), ("vault_canary", ("id",)))
"""Every table with a `token` column the vault wrote, with its key columns. A later
capability that stores secrets (GitHub tokens, database passwords) adds its table here."""


async def canary(conn: Conn) -> str | None:
    cursor = await conn.execute("SELECT token FROM vault_canary WHERE id = 1")
    row = await cursor.fetchone()
    return row["token"] if row else None


async def set_canary(conn: Conn, token: str) -> None:
    await conn.execute(
        """INSERT INTO vault_canary (id, token) VALUES (1, %s)
           ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token""",
        (token,),
    )


async def count_secrets(conn: Conn) -> int:
    """How many stored values need the key (the canary is not one)."""
    total = 0
    for table, _ in ENCRYPTED:
        if table == "vault_canary":
            continue
        cursor = await conn.execute(f"SELECT count(*) AS n FROM {table}")
        row = await cursor.fetchone()
        total += int(row["n"]) if row else 0
    return total


async def hold_shared(conn: Conn) -> None:
    """For the enclosing transaction: no rotation runs while we encrypt and store."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (VAULT_LOCK,))


async def lock_exclusive(conn: Conn) -> None:
    """Session lock of a rotation: released by `unlock` or when the connection closes."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (VAULT_LOCK,))


async def unlock(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock(%s)", (VAULT_LOCK,))


async def reencrypt_all(conn: Conn, rotate: Callable[[str], str]) -> int:
    """Replace every token with `rotate(token)`, in the caller's transaction."""
    count = 0
    for table, keys in ENCRYPTED:
        columns = ", ".join(keys)
        cursor = await conn.execute(f"SELECT {columns}, token FROM {table} FOR UPDATE")
        for row in await cursor.fetchall():
            where = " AND ".join(f"{k} = %s" for k in keys)
            await conn.execute(
                f"UPDATE {table} SET token = %s WHERE {where}",
                (rotate(row["token"]), *(row[k] for k in keys)),
            )
            count += 1
    return count
