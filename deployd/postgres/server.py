"""The PostgreSQL server that holds the apps' databases, as its admin sees it.

Every identifier goes through `psycopg.sql`; passwords reach the server only as SCRAM
verifiers computed here (libpq's PQencryptPasswordConn), so no statement, log line or
`pg_stat_activity` row ever holds one. Nothing here touches deployd's own database: the
apps' server is another cluster (dev) or another server (production).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
from psycopg import IsolationLevel, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SAFE_PATH = "-c search_path=pg_catalog,pg_temp"
PG_VARIABLES = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
}
"""libpq's keywords as the variables a tool reads them from: TLS settings go along."""


class ServerUnavailable(RuntimeError):
    """The apps' PostgreSQL cannot be reached; everything else of deployd carries on."""


@dataclass(frozen=True, slots=True)
class Usage:
    size_bytes: int
    connections: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent view of a database: what pg_dump is told to dump (`--snapshot`) and
    the row count of each table in that same view."""

    id: str
    tables: dict[str, int]
    """`schema.table` → rows."""


_TABLES = """
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence IN ('p', 'u')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
"""The tables whose rows pg_dump writes (not the catalogs', not extensions' own)."""


@dataclass(frozen=True, slots=True)
class Address:
    """Where apps reach the server (the host and port of their DATABASE_URL)."""

    host: str
    port: int


class AppsServer:
    """`prepare` makes the server reachable before first use (the dev cluster is made and
    started by the first command that needs it)."""

    def __init__(
        self,
        admin_conninfo: Callable[[], str],
        address: Callable[[], Address],
        *,
        prepare: Callable[[], Awaitable[None]] | None = None,
        connection_limit: int = 20,
    ) -> None:
        self._conninfo = admin_conninfo
        self._address = address
        self._prepare = prepare
        self._ready = asyncio.Lock()
        self._prepared = False
        self.connection_limit = connection_limit

    async def ready(self) -> None:
        async with self._ready:
            if not self._prepared and self._prepare is not None:
                try:
                    await self._prepare()
                except ServerUnavailable:
                    raise
                except Exception as exc:
                    raise ServerUnavailable(
                        f"the apps' PostgreSQL could not start: {exc}"
                    ) from None
            self._prepared = True

    async def address(self) -> Address:
        await self.ready()
        return self._address()

    async def admin_conninfo(self, dbname: str = "postgres") -> str:
        await self.ready()
        return make_conninfo(self._conninfo(), dbname=dbname)

    def admin_parts(self) -> dict[str, str]:
        """The admin conninfo as PG* variables for a tool's environment (never its
        command line)."""
        return pg_variables(self._conninfo())

    async def _connect(
        self, dbname: str = "postgres"
    ) -> psycopg.AsyncConnection[tuple[object, ...]]:
        """As the admin (a superuser), often in a database an app owns: its functions and
        operators must never run as ours, so the search path is the catalog's alone, set in
        the startup packet, which wins over any `ALTER DATABASE ... SET` the app made."""
        conninfo = make_conninfo(await self.admin_conninfo(dbname), options=SAFE_PATH)
        try:
            return await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, connect_timeout=10
            )
        except psycopg.OperationalError as exc:
            raise ServerUnavailable(
                f"the apps' PostgreSQL is unreachable: {_first_line(exc)}"
            ) from None

    async def exists(self, name: str) -> bool:
        async with await self._connect() as conn:
            cursor = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return await cursor.fetchone() is not None

    async def role_exists(self, name: str) -> bool:
        async with await self._connect() as conn:
            cursor = await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            return await cursor.fetchone() is not None

    async def create(self, name: str, password: str) -> None:
        """A role that can log in with `password`, its database, and no one else's way in:
        CONNECT is revoked from PUBLIC, so another app's role is refused by the server."""
        async with await self._connect() as conn:
            verifier = _verifier(conn, password, name)
            await conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}").format(
                    sql.Identifier(name), sql.Literal(verifier), sql.Literal(self.connection_limit)
                )
            )
            try:
                await self.create_database(name, owner=name, conn=conn)
            except BaseException:
                await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
                raise

    async def create_database(
        self,
        name: str,
        *,
        owner: str,
        conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None,
    ) -> None:
        if conn is None:
            async with await self._connect() as own:
                await self.create_database(name, owner=owner, conn=own)
            return
        await conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
        await conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
        )
        await conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )

    async def drop(self, name: str, *, role: bool = True) -> None:
        """The database (its sessions ended first) and, unless told otherwise, its role
        with the copies restores kept of it (which it owns)."""
        async with await self._connect() as conn:
            doomed = [name, *(await self.kept_copies(name))] if role else [name]
            for database in doomed:
                await conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
            if role:
                await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    async def repair(self, names: list[str]) -> list[str]:
        """After a crash in the middle of a restore: the databases deployd records take
        connections again, and the half-restored copies it was making go. Returns what it
        changed, in words."""
        done: list[str] = []
        async with await self._connect() as conn:
            cursor = await conn.execute(
                "SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY(%s) "
                "AND NOT datallowconn",
                (names,),
            )
            for (refused,) in await cursor.fetchall():
                await conn.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                        sql.Identifier(str(refused))
                    )
                )
                done.append(f"{refused} takes connections again")
            cursor = await conn.execute(
                """SELECT d.datname FROM pg_catalog.pg_database d
                   JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
                   WHERE r.rolname = ANY(%s)
                     AND pg_catalog.starts_with(d.datname, r.rolname || '-restoring-')""",
                (names,),
            )
            for (staging,) in await cursor.fetchall():
                await conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(str(staging))
                    )
                )
                done.append(f"the unfinished restore {staging} was dropped")
        return done

    async def kept_copies(self, name: str) -> list[str]:
        """The databases restores of `name` replaced and kept, oldest first."""
        async with await self._connect() as conn:
            cursor = await conn.execute(
                """SELECT d.datname FROM pg_catalog.pg_database d
                   JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
                   WHERE pg_catalog.starts_with(d.datname, %s) AND r.rolname = %s ORDER BY 1""",
                (f"{name}-before-restore-", name),
            )
            return [str(row[0]) for row in await cursor.fetchall()]

    async def usage(self) -> dict[str, Usage]:
        """Size and open connections of every database but the server's own."""
        async with await self._connect() as conn:
            cursor = await conn.execute(
                """SELECT d.datname, pg_database_size(d.oid),
                          (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid)
                   FROM pg_database d
                   WHERE NOT d.datistemplate AND d.datname <> 'postgres'"""
            )
            return {
                str(name): Usage(int(size), int(connections))  # type: ignore[call-overload]
                for name, size, connections in await cursor.fetchall()
            }

    @asynccontextmanager
    async def snapshot(self, name: str) -> AsyncIterator[Snapshot]:
        """Hold a read-only repeatable-read view of `name` open while the caller dumps it."""
        async with await self._connect(name) as conn, snapshot_of(conn) as snapshot:
            yield snapshot

    async def table_counts(self, name: str) -> dict[str, int]:
        async with await self._connect(name) as conn:
            return await _count(conn)

    async def swap(self, name: str, restored: str, kept: str) -> None:
        """Put `restored` in `name`'s place, keeping the old one as `kept`: its new sessions
        are refused and its open ones ended first, then both renames happen in one
        transaction, so `name` is at every moment either the old database or the new."""
        async with await self._connect() as conn:
            ident = sql.Identifier(name)
            await conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(ident))
            try:
                for _ in range(20):
                    await conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,),
                    )
                    try:
                        async with conn.transaction():
                            await conn.execute(
                                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                                    ident, sql.Identifier(kept)
                                )
                            )
                            await conn.execute(
                                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                                    sql.Identifier(restored), ident
                                )
                            )
                        return
                    except psycopg.errors.ObjectInUse:
                        await asyncio.sleep(0.25)  # a session still closing
                raise ServerUnavailable(f"{name} still had sessions after they were ended")
            except BaseException:
                await conn.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(ident)
                )
                raise


def pg_variables(conninfo: str) -> dict[str, str]:
    """A conninfo as PG* variables, for a tool's environment (never its command line)."""
    parts = conninfo_to_dict(conninfo)
    names = PG_VARIABLES
    return {names[k]: str(v) for k, v in parts.items() if k in names and v is not None}


@asynccontextmanager
async def snapshot_of(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> AsyncIterator[Snapshot]:
    """A read-only repeatable-read view on `conn` (a connection of its own, not pooled),
    held while the caller dumps it."""
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
    await conn.set_read_only(True)
    async with conn.transaction():
        cursor = await conn.execute("SELECT pg_export_snapshot()")
        exported = await cursor.fetchone()
        assert exported is not None
        yield Snapshot(str(exported[0]), await _count(conn))


async def _count(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    cursor = await conn.execute(_TABLES)
    for schema, table in await cursor.fetchall():
        query = sql.SQL("SELECT pg_catalog.count(*) FROM {}.{}").format(
            sql.Identifier(str(schema)), sql.Identifier(str(table))
        )
        found = await (await conn.execute(query)).fetchone()
        key = table_key(str(schema), str(table))
        counts[key] = int(found[0]) if found else 0  # type: ignore[call-overload]
    return counts


def table_key(schema: str, table: str) -> str:
    """`"schema"."table"`, quoted as PostgreSQL quotes: no two tables share a key."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))


def _verifier(conn: psycopg.AsyncConnection[tuple[object, ...]], password: str, role: str) -> str:
    return conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
