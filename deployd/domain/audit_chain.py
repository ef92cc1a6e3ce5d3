"""The audit log's hash chain.

Each row stores the hash of the row before it and its own hash over (id, time, actor,
peer uid, method, target, outcome, detail, previous hash). Editing a row breaks its own
hash; deleting a row breaks the next row's link; deleting the newest rows is caught by
the head (the last id and hash, kept in a separate one-row table in the same transaction).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

GENESIS = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    peer_uid: int | None
    method: str
    target: str | None
    outcome: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    record: AuditRecord
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    ok: bool
    checked: int
    bad_id: int | None = None
    problem: str | None = None


def chain_hash(prev_hash: bytes, record: AuditRecord) -> bytes:
    canonical = json.dumps(
        [
            record.id,
            record.at.isoformat(timespec="microseconds"),
            record.actor,
            record.peer_uid,
            record.method,
            record.target,
            record.outcome,
            record.detail,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(prev_hash + canonical.encode()).digest()


class ChainVerifier:
    """Checks rows fed in id order, so a long log is verified without holding it in memory.

    `head` is the (last id, last hash) kept beside the log; an empty log's is (0, GENESIS).
    """

    def __init__(self) -> None:
        self.last: tuple[int, bytes] = (0, GENESIS)
        self.checked = 0
        self.broken: ChainVerdict | None = None

    def feed(self, row: ChainedRecord) -> bool:
        """False once the chain is broken; the verdict is then final."""
        if self.broken is not None:
            return False
        if row.prev_hash != self.last[1]:
            problem = (
                "a row before it was deleted or changed"
                if self.checked
                else ("the oldest rows were deleted")
            )
            self.broken = ChainVerdict(False, self.checked, row.record.id, problem)
        elif chain_hash(row.prev_hash, row.record) != row.hash:
            self.broken = ChainVerdict(False, self.checked, row.record.id, "the row was edited")
        else:
            self.last = (row.record.id, row.hash)
            self.checked += 1
        return self.broken is None

    def finish(self, head: tuple[int, bytes] | None) -> ChainVerdict:
        if self.broken is not None:
            return self.broken
        if head is None:
            return ChainVerdict(False, self.checked, None, "the chain head is missing")
        if head != self.last:
            return ChainVerdict(
                False, self.checked, head[0], "the newest rows were deleted or changed"
            )
        return ChainVerdict(True, self.checked)


def verify_chain(rows: Iterable[ChainedRecord], head: tuple[int, bytes] | None) -> ChainVerdict:
    verifier = ChainVerifier()
    for row in rows:
        if not verifier.feed(row):
            break
    return verifier.finish(head)
