"""Releases: what was deployed, from which commit, with which build, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from deployd.domain.lifecycle import ReleaseStatus
from deployd.domain.manifest import Manifest

from .db import Row

Conn = AsyncConnection[Row]


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    id: int
    """The daemon's own key; users know the release by its `version`."""
    version: int
    """Its number in its app: v1, v2, ..."""
    app: str
    commit: str | None
    ref: str | None
    build_key: str | None
    """Names its build directory (and image); None until it is built."""
    manifest: dict[str, Any] | None
    status: ReleaseStatus
    error: str | None
    created_by: str | None
    created_at: datetime
    live_at: datetime | None
    env_version: int | None
    runtime: str
    failed_step: str | None

    def built_manifest(self) -> Manifest:
        """What its build found (Procfile, deployd.toml, app.json); only a built release
        has one, so callers check `build_key` first."""
        if self.manifest is None:
            raise ValueError(f"v{self.version} was never built")
        return Manifest.from_json(self.manifest)


def _row(row: Row) -> ReleaseRow:
    return ReleaseRow(**{**row, "status": ReleaseStatus(row["status"])})


def _maybe(row: Row | None) -> ReleaseRow | None:
    return _row(row) if row is not None else None


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
    status: ReleaseStatus = ReleaseStatus.PENDING,
    runtime: str = "process",
) -> ReleaseRow:
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
    return _row(row)


async def get(conn: Conn, release_id: int) -> ReleaseRow | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM releases WHERE id = %s", (release_id,))
    return _maybe(await cursor.fetchone())


async def for_app(conn: Conn, app: str, limit: int = 100) -> list[ReleaseRow]:
    """Newest first."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM releases WHERE app = %s ORDER BY id DESC LIMIT %s", (app, limit)
    )
    return [_row(r) for r in await cursor.fetchall()]


async def latest(conn: Conn, app: str | None = None) -> dict[str, tuple[int, str]]:
    """Each app's newest release: its number and status (one app's, or every app's)."""
    cursor = await conn.execute(
        """SELECT DISTINCT ON (app) app, version, status FROM releases
           WHERE %(app)s::text IS NULL OR app = %(app)s
           ORDER BY app, id DESC""",
        {"app": app},
    )
    return {row["app"]: (row["version"], row["status"]) for row in await cursor.fetchall()}


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


async def live(conn: Conn, app: str) -> ReleaseRow | None:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM releases WHERE app = %s AND status = 'live'", (app,)
    )
    return _maybe(await cursor.fetchone())


async def numbered(conn: Conn, app: str, version: int) -> ReleaseRow | None:
    """The app's release `version` (what users call v<version>)."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM releases WHERE app = %s AND version = %s", (app, version)
    )
    return _maybe(await cursor.fetchone())
