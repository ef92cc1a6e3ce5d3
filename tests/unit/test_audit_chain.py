from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from deployd.domain.audit_chain import (
    GENESIS,
    AuditRecord,
    ChainedRecord,
    chain_hash,
    verify_chain,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build(n: int) -> tuple[list[ChainedRecord], tuple[int, bytes]]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        record = AuditRecord(
            i, T0 + timedelta(seconds=i), "admin", 0, "users.add", f"u{i}", "ok", None
        )
        digest = chain_hash(prev, record)
        rows.append(ChainedRecord(record, prev, digest))
        prev = digest
    return rows, (n, prev)


def test_an_intact_chain_verifies() -> None:
    rows, head = build(5)
    verdict = verify_chain(rows, head)
    assert verdict.ok and verdict.checked == 5


def test_an_empty_log_verifies_against_the_genesis_head() -> None:
    assert verify_chain([], (0, GENESIS)).ok


def test_every_field_is_covered_by_the_hash() -> None:
    rows, head = build(3)
    for change in (
        {"actor": "x"},
        {"peer_uid": 1},
        {"method": "x"},
        {"target": "x"},
        {"outcome": "x"},
        {"detail": "x"},
        {"at": T0},
        {"id": 9},
    ):
        tampered = rows.copy()
        tampered[1] = replace(rows[1], record=replace(rows[1].record, **change))
        verdict = verify_chain(tampered, head)
        assert not verdict.ok and verdict.bad_id in (2, 9), change


def test_deletions_anywhere_are_found() -> None:
    rows, head = build(4)
    middle = verify_chain(rows[:1] + rows[2:], head)
    assert not middle.ok and middle.bad_id == 3 and "deleted" in (middle.problem or "")
    oldest = verify_chain(rows[1:], head)
    assert not oldest.ok and "oldest" in (oldest.problem or "")
    newest = verify_chain(rows[:-1], head)
    assert not newest.ok and "newest" in (newest.problem or "")
    assert not verify_chain(rows, None).ok
