"""The job queue: one active job per app (a partial unique index), claimed with SKIP LOCKED."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from deployd.domain.lifecycle import JobKind, JobState

from .db import Row

Conn = AsyncConnection[Row]

_COLUMNS = """id, app, kind, state, step, params, release_id, error, actor, created_at,
              started_at, finished_at,
              (SELECT version FROM releases WHERE releases.id = jobs.release_id) AS release"""


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    app: str
    kind: JobKind
    state: JobState
    step: str | None
    """The step it is at, or failed at (a JobStep's value)."""
    params: dict[str, Any]
    release_id: int | None
    error: str | None
    actor: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    release: int | None
    """The number of its release (v<release>), once it has one."""


def _job(row: Row) -> JobRow:
    return JobRow(**{**row, "kind": JobKind(row["kind"]), "state": JobState(row["state"])})


def _maybe(row: Row | None) -> JobRow | None:
    return _job(row) if row is not None else None


class AppBusy(Exception):
    def __init__(self, active: JobRow | None) -> None:
        super().__init__("the app already has a job")
        self.active = active


async def enqueue(
    conn: Conn,
    *,
    app: str,
    kind: JobKind,
    params: dict[str, Any],
    actor: str,
    release_id: int | None = None,
) -> JobRow:
    try:
        async with conn.transaction():
            cursor = await conn.execute(
                f"""INSERT INTO jobs (app, kind, params, actor, release_id)
                    VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
                (app, kind, Jsonb(params), actor, release_id),
            )
    except psycopg.errors.UniqueViolation:
        raise AppBusy(await active(conn, app)) from None
    row = await cursor.fetchone()
    assert row is not None
    return _job(row)


async def active(conn: Conn, app: str) -> JobRow | None:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE app = %s AND state IN ('queued', 'running')", (app,)
    )
    return _maybe(await cursor.fetchone())


async def active_by_app(conn: Conn) -> dict[str, int]:
    """Every app with a job queued or running, and that job's id."""
    cursor = await conn.execute(
        """SELECT DISTINCT ON (app) app, id FROM jobs WHERE state IN ('queued', 'running')
           ORDER BY app, id"""
    )
    return {row["app"]: row["id"] for row in await cursor.fetchall()}


async def get(conn: Conn, job_id: int) -> JobRow | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = %s", (job_id,))
    return _maybe(await cursor.fetchone())


async def claim_next(conn: Conn) -> JobRow | None:
    async with conn.transaction():
        cursor = await conn.execute(
            f"""UPDATE jobs SET state = 'running', started_at = now()
                WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id
                            FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING {_COLUMNS}"""
        )
        return _maybe(await cursor.fetchone())


async def set_step(conn: Conn, job_id: int, step: str) -> None:
    await conn.execute("UPDATE jobs SET step = %s WHERE id = %s", (step, job_id))


async def set_release(conn: Conn, job_id: int, release_id: int) -> None:
    await conn.execute("UPDATE jobs SET release_id = %s WHERE id = %s", (release_id, job_id))


async def finish(conn: Conn, job_id: int, *, error: str | None) -> None:
    await conn.execute(
        """UPDATE jobs SET state = %s, error = %s, finished_at = now() WHERE id = %s""",
        (JobState.FAILED if error else JobState.SUCCEEDED, error, job_id),
    )


async def fail_interrupted(conn: Conn) -> list[JobRow]:
    """Jobs a previous daemon left running: it died mid-way. Returns them."""
    cursor = await conn.execute(
        f"""UPDATE jobs SET state = 'failed', finished_at = now(),
                   error = 'interrupted: the daemon stopped during step ' || coalesce(step, '?')
            WHERE state = 'running' RETURNING {_COLUMNS}"""
    )
    return [_job(r) for r in await cursor.fetchall()]


async def for_app(conn: Conn, app: str, limit: int = 20) -> list[JobRow]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE app = %s ORDER BY id DESC LIMIT %s", (app, limit)
    )
    return [_job(r) for r in await cursor.fetchall()]
