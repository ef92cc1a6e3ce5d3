"""Releases: what was deployed, from which commit, with which build, and how it went."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from .db import Row

Conn = AsyncConnection[Row]

_COLUMNS = """id, version, app, commit, ref, build_key, manifest, status, error, created_by,
              created_at, live_at, env_version, runtime, failed_step"""


async def insert(
    conn: Conn,
    *,
    app: str,
    ref: str | None,
    created_by: str,
    env_version: int | None,
    commit: str | None = None,
    build_key: str | None = None,
    manifest: dict[str, Any] | None = None,
    status: str = "pending",
    runtime: str = "process",
) -> Row:
    """A new release, numbered after the app's last one (jobs of one app run one at a time;
    the unique (app, version) catches any other writer). A config release or a rollback
    with today's config comes with the build (commit, build_key, manifest) of the release it
    repeats."""
    cursor = await conn.execute(
        f"""INSERT INTO releases (version, app, ref, created_by, env_version, commit, build_key,
                                  manifest, status, runtime)
            SELECT coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s, %s
              FROM releases WHERE app = %s
            RETURNING {_COLUMNS}""",
        (
            app,
            ref,
            created_by,
            env_version,
            commit,
            build_key,
            Jsonb(manifest) if manifest is not None else None,
            status,
            runtime,
            app,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def get(conn: Conn, release_id: int) -> Row | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM releases WHERE id = %s", (release_id,))
    return await cursor.fetchone()


async def for_app(conn: Conn, app: str, limit: int = 100) -> list[Row]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM releases WHERE app = %s ORDER BY id DESC LIMIT %s", (app, limit)
    )
    return await cursor.fetchall()


async def update(conn: Conn, release_id: int, **fields: Any) -> None:
    allowed = {"commit", "build_key", "manifest", "status", "error", "runtime", "failed_step"}
    assert set(fields) <= allowed, fields
    values = [Jsonb(v) if k == "manifest" else v for k, v in fields.items()]
    assignments = ", ".join(f"{k} = %s" for k in fields)
    await conn.execute(f"UPDATE releases SET {assignments} WHERE id = %s", (*values, release_id))


async def mark_live(conn: Conn, app: str, release_id: int) -> None:
    """The release is live now; whichever was live before is superseded."""
    await conn.execute(
        "UPDATE releases SET status = 'superseded' WHERE app = %s AND status = 'live' AND id <> %s",
        (app, release_id),
    )
    await conn.execute(
        "UPDATE releases SET status = 'live', live_at = now(), error = NULL, failed_step = NULL"
        " WHERE id = %s",
        (release_id,),
    )


async def live(conn: Conn, app: str) -> Row | None:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM releases WHERE app = %s AND status = 'live'", (app,)
    )
    return await cursor.fetchone()


async def numbered(conn: Conn, app: str, version: int) -> Row | None:
    """The app's release `version` (what users call v<version>)."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM releases WHERE app = %s AND version = %s", (app, version)
    )
    return await cursor.fetchone()
