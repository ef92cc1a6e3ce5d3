"""Every mutating call is recorded; `--verify` notices edited and deleted rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support.daemon import RunningDaemon
from tests.support.sql import one


@pytest.fixture
def db(daemon: RunningDaemon) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(daemon.env["DEPLOYD_DATABASE_URL"], autocommit=True) as conn:
        yield conn


def test_mutations_are_recorded_and_reads_are_not(daemon: RunningDaemon) -> None:
    before = len(daemon.call("audit.list", {"limit": 10000}).entries)  # type: ignore[attr-defined]
    daemon.call("users.list")
    daemon.call("system.status")
    daemon.call("users.add", {"name": "audited", "role": "viewer", "password": "p4ssw0rd-x"})
    entries = daemon.call("audit.list", {"limit": 10000}).entries  # type: ignore[attr-defined]
    assert len(entries) == before + 1
    entry = entries[-1]
    assert (entry.actor, entry.method, entry.target, entry.outcome) == (
        "admin",
        "users.add",
        "audited",
        "ok",
    )
    assert entry.peer_uid == 0
    assert "p4ssw0rd" not in str(entries)
    assert daemon.call("audit.verify").ok  # type: ignore[attr-defined]


def test_since_filters_by_age(daemon: RunningDaemon, db: psycopg.Connection) -> None:
    daemon.call("users.add", {"name": "recent", "role": "viewer"})
    assert daemon.call("audit.list", {"since": "1h"}).entries  # type: ignore[attr-defined]
    db.execute("UPDATE audit_log SET at = at - interval '2 days'")  # breaks the chain, on purpose
    assert daemon.call("audit.list", {"since": "1d"}).entries == []  # type: ignore[attr-defined]
    verdict = daemon.call("audit.verify")
    assert not verdict.ok and verdict.problem == "the row was edited"  # type: ignore[attr-defined]
    db.execute("UPDATE audit_log SET at = at + interval '2 days'")
    assert daemon.call("audit.verify").ok  # type: ignore[attr-defined]


def test_verify_detects_an_edited_row(daemon: RunningDaemon, db: psycopg.Connection) -> None:
    daemon.call("users.add", {"name": "edited", "role": "viewer"})
    daemon.call("users.add", {"name": "edited2", "role": "viewer"})
    row_id = one(db, "SELECT id FROM audit_log WHERE target = 'edited'")
    db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = %s", (row_id,))
    verdict = daemon.call("audit.verify")
    assert not verdict.ok and verdict.bad_id == row_id  # type: ignore[attr-defined]
    result = daemon.deployctl("audit", "--verify")
    assert result.returncode == 1 and "TAMPERED" in result.stderr
    db.execute("UPDATE audit_log SET actor = 'admin' WHERE id = %s", (row_id,))
    assert daemon.deployctl("audit", "--verify").returncode == 0


def test_verify_detects_a_deleted_row_in_the_middle_and_at_the_end(
    daemon: RunningDaemon, db: psycopg.Connection
) -> None:
    for name in ("gone1", "gone2", "gone3"):
        daemon.call("users.add", {"name": name, "role": "viewer"})
    saved = db.execute("SELECT * FROM audit_log WHERE target = 'gone2'").fetchone()
    db.execute("DELETE FROM audit_log WHERE target = 'gone2'")
    verdict = daemon.call("audit.verify")
    assert not verdict.ok and "deleted" in verdict.problem  # type: ignore[attr-defined]
    db.execute("INSERT INTO audit_log VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", saved)
    assert daemon.call("audit.verify").ok  # type: ignore[attr-defined]
    db.execute("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
    verdict = daemon.call("audit.verify")
    assert not verdict.ok and "newest" in verdict.problem  # type: ignore[attr-defined]


def test_audit_needs_admin(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "peeker", "role": "deployer"})
    token = daemon.call("tokens.create", {"name": "peeker"}).token  # type: ignore[attr-defined]
    result = daemon.deployctl("audit", env={"DEPLOYD_TOKEN": token})
    assert result.returncode == 1
    assert "needs the admin role" in result.stderr
