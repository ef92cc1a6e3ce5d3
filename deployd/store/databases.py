"""The apps' databases as deployd records them: each database, its links to apps, its
backups and its size over time. The databases themselves live on another server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from deployd.domain.databases import Every, Schedule
from deployd.domain.series import Sample

from .db import Row

Conn = AsyncConnection[Row]


class BackupStatus(StrEnum):
    RUNNING = "running"
    VERIFIED = "verified"
    """Dumped, read back by pg_restore, its tables counted: restorable."""
    FAILED = "failed"
    DELETED = "deleted"
    """Pruned by retention or by hand: its file is gone, its record stays."""


class BackupTrigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BEFORE_DROP = "before-drop"
    BEFORE_RESTORE = "before-restore"


@dataclass(frozen=True, slots=True)
class DatabaseRow:
    name: str
    password_token: str
    """The role's password, encrypted with the vault's key."""
    created_by: str | None
    created_at: datetime
    schedule: Schedule | None
    schedule_set_at: datetime | None
    schedule_last_run: datetime | None
    """The scheduled time the last scheduled backup was started for."""
    keep: int
    migrated_at: datetime | None
    migrate_app: str | None
    migrate_status: int | None
    migrate_output: str | None


@dataclass(frozen=True, slots=True)
class LinkRow:
    database: str
    app: str
    variable: str


@dataclass(frozen=True, slots=True)
class BackupRow:
    id: int
    database: str
    status: BackupStatus
    trigger: BackupTrigger
    started_at: datetime
    finished_at: datetime | None
    size_bytes: int | None
    sha256: str | None
    tables: dict[str, int] | None
    error: str | None
    created_by: str | None


_DB = """name, password_token, created_by, created_at, schedule_every, schedule_minute,
         schedule_hour, schedule_weekday, keep, schedule_set_at, schedule_last_run,
         migrated_at, migrate_app,
         migrate_status, migrate_output"""
_BACKUP = """id, database, status, trigger, started_at, finished_at, size_bytes, sha256,
             tables, error, created_by"""


def _database(row: Row) -> DatabaseRow:
    every = row["schedule_every"]
    schedule = (
        Schedule(
            Every(every),
            minute=row["schedule_minute"],
            hour=row["schedule_hour"],
            weekday=row["schedule_weekday"],
            keep=row["keep"],
        )
        if every is not None
        else None
    )
    return DatabaseRow(
        name=row["name"],
        password_token=row["password_token"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        schedule=schedule,
        schedule_set_at=row["schedule_set_at"],
        schedule_last_run=row["schedule_last_run"],
        keep=row["keep"],
        migrated_at=row["migrated_at"],
        migrate_app=row["migrate_app"],
        migrate_status=row["migrate_status"],
        migrate_output=row["migrate_output"],
    )


def _backup(row: Row) -> BackupRow:
    return BackupRow(
        **{
            **row,
            "status": BackupStatus(row["status"]),
            "trigger": BackupTrigger(row["trigger"]),
        }
    )


async def insert(conn: Conn, *, name: str, password_token: str, created_by: str) -> None:
    await conn.execute(
        "INSERT INTO databases (name, password_token, created_by) VALUES (%s, %s, %s)",
        (name, password_token, created_by),
    )


async def get(conn: Conn, name: str, *, lock: bool = False) -> DatabaseRow | None:
    suffix = " FOR UPDATE" if lock else ""
    cursor = await conn.execute(f"SELECT {_DB} FROM databases WHERE name = %s{suffix}", (name,))
    row = await cursor.fetchone()
    return _database(row) if row is not None else None


async def list_all(conn: Conn) -> list[DatabaseRow]:
    cursor = await conn.execute(f"SELECT {_DB} FROM databases ORDER BY name")
    return [_database(r) for r in await cursor.fetchall()]


async def delete(conn: Conn, name: str) -> None:
    await conn.execute("DELETE FROM databases WHERE name = %s", (name,))


async def set_schedule(conn: Conn, name: str, schedule: Schedule | None) -> None:
    if schedule is None:
        await conn.execute(
            "UPDATE databases SET schedule_every = NULL, schedule_set_at = NULL WHERE name = %s",
            (name,),
        )
        return
    await conn.execute(
        """UPDATE databases SET schedule_every = %s, schedule_minute = %s, schedule_hour = %s,
                  schedule_weekday = %s, keep = %s, schedule_set_at = now(),
                  schedule_last_run = NULL
           WHERE name = %s""",
        (
            schedule.every.value,
            schedule.minute,
            schedule.hour,
            schedule.weekday,
            schedule.keep,
            name,
        ),
    )


async def ran_schedule(conn: Conn, name: str, scheduled_for: datetime) -> None:
    await conn.execute(
        "UPDATE databases SET schedule_last_run = %s WHERE name = %s", (scheduled_for, name)
    )


async def links(conn: Conn, database: str | None = None, app: str | None = None) -> list[LinkRow]:
    cursor = await conn.execute(
        """SELECT database, app, variable FROM database_links
           WHERE (%(db)s::text IS NULL OR database = %(db)s)
             AND (%(app)s::text IS NULL OR app = %(app)s)
           ORDER BY database, app""",
        {"db": database, "app": app},
    )
    return [LinkRow(**r) for r in await cursor.fetchall()]


async def link(conn: Conn, database: str, app: str, variable: str) -> None:
    await conn.execute(
        "INSERT INTO database_links (database, app, variable) VALUES (%s, %s, %s)",
        (database, app, variable),
    )


async def unlink(conn: Conn, database: str, app: str) -> None:
    await conn.execute(
        "DELETE FROM database_links WHERE database = %s AND app = %s", (database, app)
    )


async def start_backup(
    conn: Conn, database: str, trigger: BackupTrigger, created_by: str | None
) -> BackupRow:
    cursor = await conn.execute(
        f"""INSERT INTO backups (database, trigger, created_by) VALUES (%s, %s, %s)
            RETURNING {_BACKUP}""",
        (database, trigger.value, created_by),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _backup(row)


async def verified(
    conn: Conn, backup_id: int, *, size_bytes: int, sha256: str, tables: dict[str, int]
) -> BackupRow:
    cursor = await conn.execute(
        f"""UPDATE backups SET status = 'verified', finished_at = now(), size_bytes = %s,
                   sha256 = %s, tables = %s
            WHERE id = %s RETURNING {_BACKUP}""",
        (size_bytes, sha256, Jsonb(tables), backup_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return _backup(row)


async def failed(conn: Conn, backup_id: int, error: str) -> None:
    await conn.execute(
        """UPDATE backups SET status = 'failed', finished_at = now(), error = %s
           WHERE id = %s""",
        (error, backup_id),
    )


async def mark_deleted(conn: Conn, backup_ids: list[int]) -> None:
    await conn.execute("UPDATE backups SET status = 'deleted' WHERE id = ANY(%s)", (backup_ids,))


async def fail_unfinished(conn: Conn) -> int:
    """Backups a daemon stopped in the middle of: failed, saying so."""
    cursor = await conn.execute(
        """UPDATE backups SET status = 'failed', finished_at = now(),
                  error = 'the daemon stopped before the backup was verified'
           WHERE status = 'running'"""
    )
    return cursor.rowcount


async def backups(conn: Conn, database: str, limit: int = 1000) -> list[BackupRow]:
    cursor = await conn.execute(
        f"SELECT {_BACKUP} FROM backups WHERE database = %s ORDER BY id DESC LIMIT %s",
        (database, limit),
    )
    return [_backup(r) for r in await cursor.fetchall()]


async def backup(conn: Conn, backup_id: int) -> BackupRow | None:
    cursor = await conn.execute(f"SELECT {_BACKUP} FROM backups WHERE id = %s", (backup_id,))
    row = await cursor.fetchone()
    return _backup(row) if row is not None else None


async def last_backups(conn: Conn) -> dict[str, dict[str, Any]]:
    """Per database: when its last backup started, and when its last verified one ended."""
    cursor = await conn.execute(
        """SELECT database, max(started_at) AS started,
                  max(finished_at) FILTER (WHERE status IN ('verified', 'deleted')) AS verified
           FROM backups GROUP BY database"""
    )
    return {r["database"]: r for r in await cursor.fetchall()}


async def record_usage(conn: Conn, database: str, size_bytes: int, connections: int) -> None:
    await conn.execute(
        "INSERT INTO database_sizes (database, size_bytes, connections) VALUES (%s, %s, %s)",
        (database, size_bytes, connections),
    )


SIZES_FINE_DAYS = 35
"""Days the sizes are kept as sampled (every 5 minutes); older ones, one an hour."""
SIZES_KEPT_DAYS = 400
"""Days the sizes are kept at all."""


async def thin_sizes(conn: Conn) -> int:
    """Keep the size series small: after `SIZES_FINE_DAYS` only the first sample of each
    hour stays, after `SIZES_KEPT_DAYS` none. Returns the samples removed."""
    cursor = await conn.execute(
        """DELETE FROM database_sizes s
           WHERE s.at < now() - make_interval(days => %(kept)s)
              OR (s.at < now() - make_interval(days => %(fine)s)
                  AND EXISTS (SELECT 1 FROM database_sizes o  -- an earlier one that hour
                              WHERE o.database = s.database
                                AND o.at >= date_trunc('hour', s.at) AND o.at < s.at))""",
        {"kept": SIZES_KEPT_DAYS, "fine": SIZES_FINE_DAYS},
    )
    return cursor.rowcount


async def sizes(conn: Conn, database: str, since: datetime, until: datetime) -> list[Sample]:
    """The database's recorded sizes from `since` to `until`, oldest first."""
    cursor = await conn.execute(
        """SELECT at, size_bytes FROM database_sizes
           WHERE database = %s AND at >= %s AND at <= %s ORDER BY at""",
        (database, since, until),
    )
    return [(r["at"], r["size_bytes"]) for r in await cursor.fetchall()]


async def record_migration(
    conn: Conn, database: str, app: str, status: int | None, output: str
) -> None:
    await conn.execute(
        """UPDATE databases SET migrated_at = now(), migrate_app = %s, migrate_status = %s,
                  migrate_output = %s
           WHERE name = %s""",
        (app, status, output, database),
    )
