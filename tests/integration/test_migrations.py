"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from deployd.config import resource_dir
from deployd.store import migrate
from tests.support.sql import one


async def _run(conninfo: str, directory: Path) -> list[str]:
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        return await migrate.migrate(conn, directory)


async def _state(conninfo: str, directory: Path) -> migrate.MigrationState:
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        return await migrate.state(conn, migrate.load(directory))


def test_from_zero_then_idempotent(fresh_db: str) -> None:
    directory = resource_dir("migrations")
    assert asyncio.run(_state(fresh_db, directory)).applied == []
    applied = asyncio.run(_run(fresh_db, directory))
    assert applied[0] == "0001_base.sql"
    assert asyncio.run(_run(fresh_db, directory)) == []
    state = asyncio.run(_state(fresh_db, directory))
    assert state.pending == [] and state.applied == applied
    with psycopg.connect(fresh_db) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert {"users", "tokens", "audit_log", "audit_head", "events"} <= tables


def test_concurrent_runs_apply_each_migration_once(fresh_db: str) -> None:
    async def both() -> list[list[str]]:
        directory = resource_dir("migrations")
        return list(await asyncio.gather(_run(fresh_db, directory), _run(fresh_db, directory)))

    results = asyncio.run(both())
    assert sorted(len(r) for r in results)[0] == 0  # the second found nothing left to do


def test_a_changed_migration_is_an_error(fresh_db: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(resource_dir("migrations"), directory)
    asyncio.run(_run(fresh_db, directory))
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
        asyncio.run(_run(fresh_db, directory))


def test_a_failing_migration_leaves_the_schema_as_it_was(fresh_db: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(resource_dir("migrations"), directory)
    (directory / "9998_ok.sql").write_text("CREATE TABLE will_vanish (x int);")
    (directory / "9999_broken.sql").write_text("CREATE TABLE nope (;")
    with pytest.raises(psycopg.errors.SyntaxError):
        asyncio.run(_run(fresh_db, directory))
    with psycopg.connect(fresh_db) as conn:
        assert one(conn, "SELECT to_regclass('will_vanish')") is None
        assert one(conn, "SELECT to_regclass('users')") is None


def test_a_database_a_newer_deployd_contracted_is_refused(fresh_db: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(resource_dir("migrations"), directory)
    (directory / "9998_future.sql").write_text("CREATE TABLE future (x int);")
    (directory / "9999_future.sql").write_text("ALTER TABLE future DROP COLUMN x;")
    asyncio.run(_run(fresh_db, directory))
    with pytest.raises(migrate.MigrationError, match="newer version"):
        asyncio.run(_run(fresh_db, resource_dir("migrations")))


def test_a_database_a_newer_deployd_only_expanded_is_accepted(
    fresh_db: str, tmp_path: Path
) -> None:
    """What a self-update's way back relies on: the old daemon starts again on the schema
    the new one expanded."""
    directory = tmp_path / "migrations"
    shutil.copytree(resource_dir("migrations"), directory)
    (directory / "9998_future.sql").write_text("CREATE TABLE future (x int);")
    (directory / "9999_future.sql").write_text("ALTER TABLE apps ADD COLUMN future text;")
    asyncio.run(_run(fresh_db, directory))
    assert asyncio.run(_run(fresh_db, resource_dir("migrations"))) == []
    state = asyncio.run(_state(fresh_db, resource_dir("migrations")))
    assert state.pending == [] and "9999_future.sql" in state.applied


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_nope.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=r"NNNN_name\.sql"):
        migrate.load(tmp_path)
