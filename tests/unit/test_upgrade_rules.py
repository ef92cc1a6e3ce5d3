"""Self-update's rules: the version chosen, the migrations it may apply, and what a daemon
makes of the update record it finds at start."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from deployd.config import resource_dir
from deployd.domain.upgrades import (
    MigrationKind,
    OnStart,
    UpdateKind,
    UpdateRecord,
    UpdateRefused,
    UpdateStep,
    choose,
    migration_kind,
    on_start,
)
from deployd.upgrade import record, sources, venvs


def test_the_newest_offered_version_is_chosen_and_tags_may_have_a_v() -> None:
    assert choose("0.1.0", ["v0.1.1", "0.2.0", "v0.1.9", "not-a-version"], None) == "0.2.0"


def test_an_older_version_only_when_named() -> None:
    with pytest.raises(UpdateRefused, match=r"up to date.*--to"):
        choose("0.3.0", ["0.1.0", "0.2.0"], None)
    assert choose("0.3.0", ["0.1.0", "0.2.0"], "0.2.0") == "0.2.0"


def test_a_named_version_the_source_lacks_or_the_running_one_is_refused() -> None:
    with pytest.raises(UpdateRefused, match=r"no version 0\.9\.0.*newest there is 0\.2\.0"):
        choose("0.1.0", ["0.2.0"], "0.9.0")
    with pytest.raises(UpdateRefused, match="already running"):
        choose("0.1.0", ["0.1.0"], "v0.1.0")
    with pytest.raises(UpdateRefused, match="offers no versions"):
        choose("0.1.0", [], None)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE backups (id bigserial PRIMARY KEY);",
        "ALTER TABLE apps ADD COLUMN notes text;",
        "CREATE INDEX ON events (at);",
        "ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;",
        "ALTER TABLE apps ADD COLUMN n int NOT NULL DEFAULT 0; -- DROP TABLE in a comment",
        "INSERT INTO settings VALUES ('drop table', 'rename');",
    ],
)
def test_expand_migrations(sql: str) -> None:
    assert migration_kind(sql) == (MigrationKind.EXPAND, [])


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("ALTER TABLE apps DROP COLUMN notes;", "drops"),
        ("drop table old_things;", "drops"),
        ("ALTER TABLE apps RENAME COLUMN a TO b;", "renames"),
        ("ALTER TABLE apps ALTER COLUMN port TYPE bigint;", "changes a type"),
        ("ALTER TABLE apps ALTER COLUMN notes SET NOT NULL;", "adds a NOT NULL"),
        ("-- deployd: contract\nCREATE OR REPLACE FUNCTION f() ...", "declared so"),
    ],
)
def test_contract_migrations_say_why(sql: str, reason: str) -> None:
    kind, reasons = migration_kind(sql)
    assert kind is MigrationKind.CONTRACT and reason in reasons


def test_a_migration_may_declare_itself_expand() -> None:
    sql = "-- deployd: expand\nCREATE TABLE t (x int);\nDROP INDEX IF EXISTS t_tmp;"
    assert migration_kind(sql)[0] is MigrationKind.EXPAND


def test_every_shipped_migration_is_classified() -> None:
    """Whatever they are, the scan reads them all (a crash here would stop every update)."""
    for path in sorted(resource_dir("migrations").glob("*.sql")):
        assert migration_kind(path.read_text())[0] in MigrationKind


def _record(step: UpdateStep, published: bool = False) -> UpdateRecord:
    return UpdateRecord(
        id="20261129T120000",
        kind=UpdateKind.UPDATE,
        from_version="0.1.0",
        to_version="0.2.0",
        step=step,
        started_at=datetime(2026, 11, 29, 12, tzinfo=UTC),
        published=published,
    )


def test_an_update_cut_short_before_the_switch_failed() -> None:
    assert on_start(_record(UpdateStep.INSTALLING), "0.1.0", False) is OnStart.INTERRUPTED
    assert on_start(_record(UpdateStep.INSTALLING), "0.1.0", True) is OnStart.NOTHING


def test_a_finished_update_is_published_once() -> None:
    assert on_start(_record(UpdateStep.DONE), "0.2.0", False) is OnStart.PUBLISH
    assert on_start(_record(UpdateStep.DONE, published=True), "0.2.0", False) is OnStart.NOTHING
    assert on_start(_record(UpdateStep.ROLLED_BACK), "0.1.0", False) is OnStart.PUBLISH


def test_a_switch_under_way_is_left_to_the_finisher() -> None:
    assert on_start(_record(UpdateStep.SWITCHING), "0.2.0", False) is OnStart.NOTHING
    assert on_start(None, "0.2.0", False) is OnStart.NOTHING


def test_the_record_survives_a_round_trip_and_a_bad_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "update.json"
    done = _record(UpdateStep.SWITCHING).moved(UpdateStep.ROLLED_BACK, datetime.now(UTC), "slow")
    record.write(path, done)
    assert record.read(path) == done
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("{not json")
    assert record.read(path) is None
    path.unlink()
    record.write(tmp_path / "elsewhere", done)
    path.symlink_to(tmp_path / "elsewhere")
    assert record.read(path) is None  # never followed


def test_a_tags_dependencies_are_pinned_to_its_lock(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n[[package]]\nname = "typer"\nversion = "0.20.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "deployd"\nversion = "0.1.0"\nsource = { editable = "." }\n'
    )
    assert venvs.lock_constraints(lock) == "typer==0.20.0\n"
    shipped = venvs.lock_constraints(Path(__file__).resolve().parents[2] / "uv.lock")
    assert "psycopg==" in shipped and "deployd==" not in shipped


def test_a_token_in_the_update_sources_url_is_never_shown() -> None:
    source = "https://deployer:ghp_s3cr%2Bt@github.com/deployd/deployd.git"
    said = "fatal: could not read from https://deployer:ghp_s3cr%2Bt@github.com/x (ghp_s3cr+t)"
    shown = sources.without_secrets(source, said)
    assert "ghp_s3cr" not in shown and "deployer" not in shown
    assert sources.without_secrets("file:///srv/deployd.git", "as it was") == "as it was"
