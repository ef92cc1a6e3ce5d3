"""The audit log's hash chain.

Each row stores the hash of the row before it and its own hash over (id, time, actor,
peer uid, method, target, outcome, detail, previous hash). Editing a row breaks its own
hash; deleting a row breaks the next row's link; deleting the newest rows is caught by
the head (the last id and hash, kept in a separate one-row table in the same transaction)
and, from outside the database, by the anchor (the newest row the daemon wrote, kept in a
file). Rows are chained with HMAC-SHA256 under a key kept outside the database, so no one
who can only write the database can recompute the chain after changing a row; rows written
before the key existed (`keyed_from`) are chained with plain SHA-256 and protected by the
first keyed row, whose MAC covers their last hash.
"""

from __future__ import annotations

import hashlib
import hmac
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


@dataclass(frozen=True, slots=True)
class Keying:
    """How rows are chained: from `keyed_from` on with HMAC under `key`."""

    key: bytes | None = None
    keyed_from: int | None = None

    def keyed(self, row_id: int) -> bytes | None:
        if self.key is None or self.keyed_from is None or row_id < self.keyed_from:
            return None
        return self.key


def chain_hash(prev_hash: bytes, record: AuditRecord, key: bytes | None = None) -> bytes:
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
    message = prev_hash + canonical.encode()
    if key is None:
        return hashlib.sha256(message).digest()
    return hmac.new(key, message, hashlib.sha256).digest()


class ChainVerifier:
    """Checks rows fed in id order, so a long log is verified without holding it in memory.

    `anchor` is the (last id, last hash) the daemon recorded outside the database; `head`
    (to `finish`) the (last id, last hash) kept beside the log; an empty log's is
    (0, GENESIS).
    """

    def __init__(
        self, keying: Keying | None = None, anchor: tuple[int, bytes] | None = None
    ) -> None:
        self.keying = keying or Keying()
        self.anchor = anchor
        self.last: tuple[int, bytes] = (0, GENESIS)
        self.checked = 0
        self.broken: ChainVerdict | None = None
        self.anchored: bytes | None = None
        """The hash of the row the anchor names, once fed."""

    def feed(self, row: ChainedRecord) -> bool:
        """False once the chain is broken; the verdict is then final."""
        if self.broken is not None:
            return False
        key = self.keying.keyed(row.record.id)
        if row.prev_hash != self.last[1]:
            problem = (
                "a row before it was deleted or changed"
                if self.checked
                else ("the oldest rows were deleted")
            )
            self.broken = ChainVerdict(False, self.checked, row.record.id, problem)
        elif not hmac.compare_digest(chain_hash(row.prev_hash, row.record, key), row.hash):
            self.broken = ChainVerdict(False, self.checked, row.record.id, "the row was edited")
        else:
            self.last = (row.record.id, row.hash)
            self.checked += 1
            if self.anchor is not None and row.record.id == self.anchor[0]:
                self.anchored = row.hash
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
        anchor = self.anchor
        if anchor is not None and anchor[0] > 0:
            if anchor[0] > self.last[0]:
                return ChainVerdict(
                    False,
                    self.checked,
                    anchor[0],
                    f"the newest rows were deleted: the log ends at {self.last[0]}, deployd "
                    f"wrote up to {anchor[0]}",
                )
            if self.anchored != anchor[1]:
                return ChainVerdict(
                    False, self.checked, anchor[0], "the row deployd last wrote was replaced"
                )
        return ChainVerdict(True, self.checked)


def verify_chain(
    rows: Iterable[ChainedRecord],
    head: tuple[int, bytes] | None,
    keying: Keying | None = None,
    anchor: tuple[int, bytes] | None = None,
) -> ChainVerdict:
    verifier = ChainVerifier(keying, anchor)
    for row in rows:
        if not verifier.feed(row):
            break
    return verifier.finish(head)
