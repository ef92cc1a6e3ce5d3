"""App config versions. Values only ever arrive here encrypted (`token`); names of what
changed are kept in the clear, for `env history`."""

from __future__ import annotations

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]

_COLUMNS = "app, version, token, set_names, unset_names, created_by, created_at"


async def current(conn: Conn, app: str, *, lock: bool = False) -> Row | None:
    """The app's current version (None: no config yet). `lock` holds the app row, so two
    writers never build on the same version."""
    suffix = " FOR UPDATE OF apps" if lock else ""
    cursor = await conn.execute(
        f"""SELECT apps.env_version AS current, {", ".join("v." + c for c in _COLUMNS.split(", "))}
            FROM apps LEFT JOIN env_versions v
              ON v.app = apps.name AND v.version = apps.env_version
            WHERE apps.name = %s{suffix}""",
        (app,),
    )
    row = await cursor.fetchone()
    return row if row and row["current"] is not None else None


async def get(conn: Conn, app: str, version: int) -> Row | None:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM env_versions WHERE app = %s AND version = %s", (app, version)
    )
    return await cursor.fetchone()


async def insert(
    conn: Conn,
    *,
    app: str,
    token: str,
    set_names: list[str],
    unset_names: list[str],
    created_by: str,
) -> int:
    """Store the next version and make it current; returns its number."""
    cursor = await conn.execute(
        """INSERT INTO env_versions (app, version, token, set_names, unset_names, created_by)
           SELECT %s, COALESCE(MAX(version), 0) + 1, %s, %s, %s, %s
           FROM env_versions WHERE app = %s
           RETURNING version""",
        (app, token, set_names, unset_names, created_by, app),
    )
    row = await cursor.fetchone()
    assert row is not None
    await set_current(conn, app, row["version"])
    return int(row["version"])


async def set_current(conn: Conn, app: str, version: int | None) -> None:
    await conn.execute("UPDATE apps SET env_version = %s WHERE name = %s", (version, app))


async def restore(conn: Conn, app: str, version: int | None, *, expected: int | None) -> bool:
    """A rollback's: make `version` current unless the config changed since `expected` was
    read (a change staged meanwhile is newer than the rollback's intent, and stays)."""
    cursor = await conn.execute(
        """UPDATE apps SET env_version = %s
           WHERE name = %s AND env_version IS NOT DISTINCT FROM %s""",
        (version, app, expected),
    )
    return cursor.rowcount == 1


async def history(conn: Conn, app: str, limit: int) -> list[Row]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM env_versions WHERE app = %s ORDER BY version DESC LIMIT %s",
        (app, limit),
    )
    return await cursor.fetchall()


async def tokens_for_masking(conn: Conn, app: str | None, newest: int) -> list[Row]:
    """The tokens whose values must be masked: per app its current version and its `newest`
    latest ones (their values may still be in a running slot or a log being written)."""
    cursor = await conn.execute(
        """SELECT v.app, v.token FROM env_versions v JOIN apps a ON a.name = v.app
           WHERE (%(app)s::text IS NULL OR v.app = %(app)s)
             AND (v.version = a.env_version OR v.version > (
                  SELECT MAX(version) FROM env_versions w WHERE w.app = v.app) - %(newest)s)""",
        {"app": app, "newest": newest},
    )
    return await cursor.fetchall()
