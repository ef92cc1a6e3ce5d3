"""Appending to the audit log and verifying it, with the seal kept outside the database.

Everyone who appends (the daemon's dispatcher, `deployd admin create`, `deployd keys
rotate`) goes through `append`, which chains the row under the audit key and then moves the
anchor forward; `verify` checks the chain, the head and the anchor in one snapshot.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus

from deployd.domain.audit_chain import ChainedRecord, ChainVerdict, ChainVerifier, Keying
from deployd.store import audit as store
from deployd.store.db import Row
from deployd.vault.audit_seal import Anchor, AuditSeal, AuditSealError

Conn = AsyncConnection[Row]


async def open_log(conn: Conn, seal: AuditSeal) -> bool:
    """At start: the key (made on first start; a keyed log without it stops the start),
    the first keyed row, and an anchor. True when the key was created now."""
    head = await store.head(conn)
    created = False
    if not seal.has_key():
        if head is not None and head[2] is not None and head[0] >= head[2]:
            raise AuditSealError(
                f"the audit key {seal.key_file} is missing, but the audit log is chained with "
                "it: restore the file from your backup"
            )
        seal.create_key()
        created = True
    seal.key()  # a malformed or too open file says so itself
    keyed_from = await store.start_keying(conn)
    head = await store.head(conn)
    if head is not None and seal.anchor() is None:
        await asyncio.to_thread(seal.advance, Anchor(keyed_from, head[0], head[1]))
    return created


async def append(
    conn: Conn,
    seal: AuditSeal,
    *,
    actor: str,
    peer_uid: int | None,
    method: str,
    target: str | None,
    outcome: str,
    detail: str | None,
) -> ChainedRecord:
    """Append a row chained under the audit key. Inside a transaction of the caller's, call
    `anchor` once it committed: the anchor must never run ahead of the database."""
    row = await store.append(
        conn,
        actor=actor,
        peer_uid=peer_uid,
        method=method,
        target=target,
        outcome=outcome,
        detail=detail,
        key=seal.key(),
    )
    if conn.info.transaction_status == TransactionStatus.IDLE:  # committed already
        await anchor(conn, seal, row)
    return row


async def anchor(conn: Conn, seal: AuditSeal, row: ChainedRecord) -> None:
    head = await store.head(conn)
    keyed_from = head[2] if head is not None and head[2] is not None else row.record.id
    await asyncio.to_thread(seal.advance, Anchor(keyed_from, row.record.id, row.hash))


async def verify(conn: Conn, seal: AuditSeal) -> ChainVerdict:
    async with conn.transaction():
        await store.freeze_snapshot(conn)  # the head and the rows must be read as of one instant
        head = await store.head(conn)
        anchor = seal.anchor()
        keyed_from = anchor.keyed_from if anchor else (head[2] if head else None)
        if anchor is not None and head is not None and head[2] != anchor.keyed_from:
            return ChainVerdict(False, 0, None, "which rows are keyed was changed in the database")
        verifier = ChainVerifier(
            Keying(seal.key(), keyed_from),
            (anchor.last_id, anchor.last_hash) if anchor else None,
        )
        async with aclosing(store.chain(conn)) as rows:
            async for row in rows:
                if not verifier.feed(row):
                    break
    return verifier.finish((head[0], head[1]) if head else None)
