"""The audit log against someone who can write the database but not the daemon's files:
a rewritten row with the chain recomputed, the newest rows deleted with the head moved
back, the keying switched off. Each is caught by `deployctl audit --verify`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest

from deployd.domain.audit_chain import GENESIS, AuditRecord, chain_hash
from tests.support.daemon import RunningDaemon, serve
from tests.support.sql import one


@pytest.fixture
def daemon(fresh_db: str) -> Iterator[RunningDaemon]:
    with serve(fresh_db) as running:
        for i in range(6):
            running.call("users.add", {"name": f"person{i}", "role": "viewer"})
        yield running


@pytest.fixture
def db(daemon: RunningDaemon) -> Iterator[psycopg.Connection]:
    with psycopg.connect(daemon.env["DEPLOYD_DATABASE_URL"], autocommit=True) as conn:
        yield conn


def verdict(daemon: RunningDaemon) -> dict[str, object]:
    result = daemon.deployctl("audit", "--verify", "--json")
    found: dict[str, object] = json.loads(result.stdout)
    assert (result.returncode == 0) == found["ok"]
    return found


def recompute_unkeyed(db: psycopg.Connection, from_id: int) -> None:
    """What an attacker who knows the algorithm but not the key does after an edit: every
    hash from the edited row on computed again, and the head moved to the new last hash."""
    rows = db.execute("SELECT * FROM audit_log WHERE id >= %s ORDER BY id", (from_id,))
    before = db.execute("SELECT hash FROM audit_log WHERE id = %s", (from_id - 1,)).fetchone()
    prev = bytes(before[0]) if before else GENESIS
    for row in rows.fetchall():
        record = AuditRecord(*row[:8])
        digest = chain_hash(prev, record)
        db.execute(
            "UPDATE audit_log SET prev_hash = %s, hash = %s WHERE id = %s", (prev, digest, row[0])
        )
        prev = digest
    db.execute("UPDATE audit_head SET last_hash = %s", (prev,))


def test_an_intact_log_verifies_and_its_key_stays_outside_the_database(
    daemon: RunningDaemon, db: psycopg.Connection
) -> None:
    assert verdict(daemon)["ok"]
    key = (daemon.root / "audit.key").read_text().strip()
    assert (daemon.root / "audit.key").stat().st_mode & 0o077 == 0
    dump = str(db.execute("SELECT * FROM audit_log").fetchall()) + str(
        db.execute("SELECT * FROM audit_head").fetchall()
    )
    assert key not in dump and bytes.fromhex(key).hex() not in dump


def test_a_rewritten_row_with_the_chain_recomputed_is_caught(
    daemon: RunningDaemon, db: psycopg.Connection
) -> None:
    row_id = one(db, "SELECT id FROM audit_log WHERE target = 'person2'")
    db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = %s", (row_id,))
    recompute_unkeyed(db, row_id)
    found = verdict(daemon)
    assert (
        not found["ok"] and found["bad_id"] == row_id and found["problem"] == "the row was edited"
    )


def test_the_newest_rows_deleted_with_the_head_moved_back_are_caught(
    daemon: RunningDaemon, db: psycopg.Connection
) -> None:
    last = one(db, "SELECT max(id) FROM audit_log")
    db.execute("DELETE FROM audit_log WHERE id > %s", (last - 2,))
    kept = db.execute("SELECT id, hash FROM audit_log WHERE id = %s", (last - 2,)).fetchone()
    db.execute("UPDATE audit_head SET last_id = %s, last_hash = %s", kept)
    found = verdict(daemon)
    assert not found["ok"]
    assert f"the log ends at {last - 2}, deployd wrote up to {last}" in str(found["problem"])


def test_switching_the_keying_off_is_caught(daemon: RunningDaemon, db: psycopg.Connection) -> None:
    row_id = one(db, "SELECT id FROM audit_log WHERE target = 'person3'")
    db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = %s", (row_id,))
    recompute_unkeyed(db, row_id)
    last = one(db, "SELECT max(id) FROM audit_log")
    db.execute("UPDATE audit_head SET keyed_from = %s", (last + 1,))  # "all rows are old"
    assert not verdict(daemon)["ok"]


def test_a_log_from_before_the_key_is_kept_and_protected_by_the_first_keyed_row(
    fresh_db: str,
) -> None:
    """An older deployd chained with plain SHA-256: a newer one keys from the next row on,
    and a rewrite of an old row no longer verifies, recomputed or not."""
    with serve(fresh_db) as first:
        first.call("users.add", {"name": "early", "role": "viewer"})
    with psycopg.connect(fresh_db, autocommit=True) as db:
        # make it look like an older deployd's log: no key, no anchor, unkeyed hashes
        db.execute("UPDATE audit_head SET keyed_from = NULL")
        recompute_unkeyed_from_start(db)
        with serve(fresh_db) as second:
            assert verdict(second)["ok"]
            second.call("users.add", {"name": "late", "role": "viewer"})
            assert verdict(second)["ok"]
            keyed_from = one(db, "SELECT keyed_from FROM audit_head")
            old = one(db, "SELECT id FROM audit_log WHERE target = 'early'")
            assert old < keyed_from
            db.execute("UPDATE audit_log SET detail = 'rewritten' WHERE id = %s", (old,))
            recompute_unkeyed(db, old)
            assert not verdict(second)["ok"]


def recompute_unkeyed_from_start(db: psycopg.Connection) -> None:
    prev = bytes(32)
    for row in db.execute("SELECT * FROM audit_log ORDER BY id").fetchall():
        digest = chain_hash(prev, AuditRecord(*row[:8]))
        db.execute(
            "UPDATE audit_log SET prev_hash = %s, hash = %s WHERE id = %s", (prev, digest, row[0])
        )
        prev = digest
    db.execute("UPDATE audit_head SET last_hash = %s", (prev,))
