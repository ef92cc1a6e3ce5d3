"""Remote storage's keys and the copies of backups made there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]


class CopyStatus(StrEnum):
    RUNNING = "running"
    COPIED = "copied"
    """Encrypted, uploaded, and the storage reports the size that was sent."""
    FAILED = "failed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class StorageRow:
    access_key_id: str
    secret_token: str
    """The secret access key, encrypted with the vault's key."""
    identity_token: str
    """The age identity that decrypts the copies, encrypted with the vault's key."""
    recipient: str
    updated_by: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CopyRow:
    backup_id: int
    status: CopyStatus
    key: str | None
    size_bytes: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    attempts: int = 1


_COPY = "backup_id, status, key, size_bytes, error, started_at, finished_at, attempts"


def _copy(row: Row) -> CopyRow:
    return CopyRow(**{**row, "status": CopyStatus(row["status"])})


async def storage(conn: Conn) -> StorageRow | None:
    cursor = await conn.execute(
        """SELECT access_key_id, secret_token, identity_token, recipient, updated_by,
                  updated_at FROM remote_storage WHERE id = 1"""
    )
    row = await cursor.fetchone()
    return StorageRow(**row) if row is not None else None


async def set_storage(
    conn: Conn,
    *,
    access_key_id: str,
    secret_token: str,
    identity_token: str,
    recipient: str,
    updated_by: str,
) -> None:
    """The keys change; the age key pair is kept once made (older copies need it)."""
    await conn.execute(
        """INSERT INTO remote_storage
               (id, access_key_id, secret_token, identity_token, recipient, updated_by)
           VALUES (1, %s, %s, %s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET access_key_id = EXCLUDED.access_key_id,
               secret_token = EXCLUDED.secret_token, updated_by = EXCLUDED.updated_by,
               updated_at = now()""",
        (access_key_id, secret_token, identity_token, recipient, updated_by),
    )


async def start_copy(conn: Conn, backup_id: int, key: str) -> None:
    await conn.execute(
        """INSERT INTO backup_copies (backup_id, location, status, key)
           VALUES (%s, 'remote', 'running', %s)
           ON CONFLICT (backup_id, location) DO UPDATE SET status = 'running', key = %s,
               error = NULL, started_at = now(), finished_at = NULL,
               attempts = backup_copies.attempts + 1""",
        (backup_id, key, key),
    )


async def copied(conn: Conn, backup_id: int, size_bytes: int) -> None:
    await conn.execute(
        """UPDATE backup_copies SET status = 'copied', size_bytes = %s, finished_at = now()
           WHERE backup_id = %s AND location = 'remote'""",
        (size_bytes, backup_id),
    )


async def copy_failed(conn: Conn, backup_id: int, error: str) -> None:
    await conn.execute(
        """UPDATE backup_copies SET status = 'failed', error = %s, finished_at = now()
           WHERE backup_id = %s AND location = 'remote'""",
        (error, backup_id),
    )


async def copy_deleted(conn: Conn, backup_id: int) -> None:
    await conn.execute(
        """UPDATE backup_copies SET status = 'deleted', error = NULL
           WHERE backup_id = %s AND location = 'remote'""",
        (backup_id,),
    )


async def delete_failed(conn: Conn, backup_id: int, error: str) -> None:
    """A copy whose deletion failed stays `copied`, saying why it is still there."""
    await conn.execute(
        """UPDATE backup_copies SET error = %s
           WHERE backup_id = %s AND location = 'remote' AND status = 'copied'""",
        (error, backup_id),
    )


async def copies(conn: Conn, backup_ids: list[int]) -> dict[int, CopyRow]:
    cursor = await conn.execute(
        f"SELECT {_COPY} FROM backup_copies WHERE location = 'remote' AND backup_id = ANY(%s)",
        (backup_ids,),
    )
    return {r["backup_id"]: _copy(r) for r in await cursor.fetchall()}


async def failed_copies(conn: Conn) -> list[CopyRow]:
    """Copies that failed, of backups that are still verified (retried by the scheduler)."""
    cursor = await conn.execute(
        f"""SELECT {", ".join("c." + c for c in _COPY.split(", "))} FROM backup_copies c
            JOIN backups b ON b.id = c.backup_id
            WHERE c.location = 'remote' AND c.status = 'failed' AND b.status = 'verified'
            ORDER BY c.backup_id"""
    )
    return [_copy(r) for r in await cursor.fetchall()]


async def orphaned_copies(conn: Conn) -> list[int]:
    """Backups deleted here whose copy is still there (its deletion failed)."""
    cursor = await conn.execute(
        """SELECT c.backup_id FROM backup_copies c JOIN backups b ON b.id = c.backup_id
           WHERE c.location = 'remote' AND c.status = 'copied' AND b.status = 'deleted'
           ORDER BY c.backup_id"""
    )
    return [r["backup_id"] for r in await cursor.fetchall()]


async def fail_unfinished(conn: Conn) -> int:
    cursor = await conn.execute(
        """UPDATE backup_copies SET status = 'failed', finished_at = now(),
                  error = 'the daemon stopped before the copy was made'
           WHERE status = 'running'"""
    )
    return cursor.rowcount
