"""The audit log, appended under the head row's lock so the hash chain has no forks."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from psycopg import AsyncConnection

from deployd.domain.audit_chain import AuditRecord, ChainedRecord, Keying, chain_hash

from .db import Row

Conn = AsyncConnection[Row]


async def append(
    conn: Conn,
    *,
    actor: str,
    peer_uid: int | None,
    method: str,
    target: str | None,
    outcome: str,
    detail: str | None,
    key: bytes,
) -> ChainedRecord:
    """Append a row chained under `key` (once the log is keyed: see `start_keying`)."""
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT last_id, last_hash, keyed_from FROM audit_head FOR UPDATE"
        )
        head = await cursor.fetchone()
        if head is None:
            raise RuntimeError("audit_head is missing: the audit log was tampered with")
        record = AuditRecord(
            id=head["last_id"] + 1,
            at=datetime.now(UTC),
            actor=actor,
            peer_uid=peer_uid,
            method=method,
            target=target,
            outcome=outcome,
            detail=detail,
        )
        keying = Keying(key, head["keyed_from"])
        digest = chain_hash(bytes(head["last_hash"]), record, keying.keyed(record.id))
        await conn.execute(
            """INSERT INTO audit_log
               (id, at, actor, peer_uid, method, target, outcome, detail, prev_hash, hash)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                record.id,
                record.at,
                actor,
                peer_uid,
                method,
                target,
                outcome,
                detail,
                bytes(head["last_hash"]),
                digest,
            ),
        )
        await conn.execute(
            "UPDATE audit_head SET last_id = %s, last_hash = %s", (record.id, digest)
        )
    return ChainedRecord(record, bytes(head["last_hash"]), digest)


async def start_keying(conn: Conn) -> int:
    """The first keyed row: set to the next row on a log that was never keyed."""
    async with conn.transaction():
        cursor = await conn.execute("SELECT last_id, keyed_from FROM audit_head FOR UPDATE")
        head = await cursor.fetchone()
        if head is None:
            raise RuntimeError("audit_head is missing: the audit log was tampered with")
        if head["keyed_from"] is not None:
            return int(head["keyed_from"])
        await conn.execute("UPDATE audit_head SET keyed_from = %s", (head["last_id"] + 1,))
        return int(head["last_id"]) + 1


async def list_since(conn: Conn, since: datetime | None, limit: int) -> list[Row]:
    cursor = await conn.execute(
        """SELECT * FROM (
               SELECT id, at, actor, peer_uid, method, target, outcome, detail FROM audit_log
               WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)
               ORDER BY id DESC LIMIT %(limit)s) newest
           ORDER BY id""",
        {"since": since, "limit": limit},
    )
    return await cursor.fetchall()


async def freeze_snapshot(conn: Conn) -> None:
    """First statement of a transaction: every later read sees the same snapshot."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


async def head(conn: Conn) -> tuple[int, bytes, int | None] | None:
    """(last id, last hash, first keyed row) of the log."""
    cursor = await conn.execute("SELECT last_id, last_hash, keyed_from FROM audit_head")
    row = await cursor.fetchone()
    if row is None:
        return None
    return int(row["last_id"]), bytes(row["last_hash"]), row["keyed_from"]


async def chain(conn: Conn) -> AsyncGenerator[ChainedRecord, None]:
    """Every row in id order, streamed with a server-side cursor (the log can be long).

    Call inside a transaction (server-side cursors live in one), and close it with
    `contextlib.aclosing` when leaving early.
    """
    async with conn.cursor(name="audit_chain") as cursor:
        await cursor.execute("SELECT * FROM audit_log ORDER BY id")
        async for row in cursor:
            yield ChainedRecord(
                record=AuditRecord(
                    id=row["id"],
                    at=row["at"],
                    actor=row["actor"],
                    peer_uid=row["peer_uid"],
                    method=row["method"],
                    target=row["target"],
                    outcome=row["outcome"],
                    detail=row["detail"],
                ),
                prev_hash=bytes(row["prev_hash"]),
                hash=bytes(row["hash"]),
            )
