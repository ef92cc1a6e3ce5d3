"""The migration runner: plain numbered SQL files, applied in order, recorded with checksums.

Small on purpose (yoyo-migrations would bring its own CLI, config and sync driver for what
is ~60 lines over psycopg): all pending files are applied in one transaction under an
advisory lock, so two daemons starting together cannot both migrate, and a failing file
leaves the schema as it was. A file changed after it was applied is an error, and so is a
database that has migrations this deployd does not know (a downgrade) unless every one of
them was recorded as expand-only: then this deployd is the one a self-update went back to,
and the schema is one it can live with (see domain/upgrades).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import AsyncConnection

from deployd.domain.upgrades import MigrationKind, migration_kind

from .db import Row

FILE_PATTERN = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
LOCK_KEY = 0x6465706C6F7964  # "deployd"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def expand(self) -> bool:
        """Whether code written before it can run on the schema it leaves."""
        return migration_kind(self.sql)[0] is MigrationKind.EXPAND


@dataclass(frozen=True, slots=True)
class MigrationState:
    applied: list[str]
    pending: list[str]


def load(directory: Path) -> list[Migration]:
    migrations = []
    for path in sorted(directory.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if match:
            migrations.append(Migration(int(match[1]), path.name, path.read_text()))
        elif path.suffix == ".sql":
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return migrations


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS expand boolean NOT NULL DEFAULT false
"""


async def state(conn: AsyncConnection[Row], known: list[Migration]) -> MigrationState:
    """What is applied and what is pending, against the migrations this deployd ships."""
    cursor = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS e")
    row = await cursor.fetchone()
    applied = await _applied(conn) if row and row["e"] else {}
    return MigrationState(
        applied=[name for _, (name, _) in sorted(applied.items())],
        pending=[m.name for m in known if m.version not in applied],
    )


async def migrate(conn: AsyncConnection[Row], directory: Path) -> list[str]:
    """Apply what is pending; returns the names applied (empty when up to date)."""
    known = load(directory)
    done: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await conn.execute(_CREATE_TABLE)
        applied = await _applied(conn)
        by_version = {m.version: m for m in known}
        unknown = sorted(set(applied) - set(by_version))
        if unknown and not await _all_expand(conn, unknown):
            raise MigrationError(
                f"the database has migrations this deployd does not know ({unknown}): "
                "it was migrated by a newer version"
            )
        for migration in known:
            if migration.version in applied:
                if applied[migration.version][1] != migration.checksum:
                    raise MigrationError(
                        f"{migration.name} was changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, expand) "
                "VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, migration.checksum, migration.expand),
            )
            done.append(migration.name)
    return done


async def _all_expand(conn: AsyncConnection[Row], versions: list[int]) -> bool:
    cursor = await conn.execute(
        "SELECT bool_and(expand) AS expand FROM schema_migrations WHERE version = ANY(%s)",
        (versions,),
    )
    row = await cursor.fetchone()
    return bool(row and row["expand"])


async def _applied(conn: AsyncConnection[Row]) -> dict[int, tuple[str, str]]:
    cursor = await conn.execute("SELECT version, name, checksum FROM schema_migrations")
    return {r["version"]: (r["name"], r["checksum"]) for r in await cursor.fetchall()}
