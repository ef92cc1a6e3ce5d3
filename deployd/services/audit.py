"""`audit.*`: recording every mutating call, listing and verifying the chain."""

from __future__ import annotations

from contextlib import aclosing
from datetime import UTC, datetime

from deployd.domain.audit_chain import ChainVerifier
from deployd.domain.durations import parse_duration
from deployd.protocol.audit import AuditEntry, AuditListParams, AuditListResult, AuditVerifyResult
from deployd.store import audit as store

from .core import Caller, Core


async def record(
    core: Core,
    caller: Caller,
    *,
    method: str,
    target: str | None,
    outcome: str,
    detail: str | None = None,
) -> None:
    async with core.pool.connection() as conn:
        await store.append(
            conn,
            actor=caller.name,
            peer_uid=caller.peer_uid,
            method=method,
            target=target,
            outcome=outcome,
            detail=detail,
        )


async def list_entries(core: Core, caller: Caller, params: AuditListParams) -> AuditListResult:
    since = datetime.now(UTC) - parse_duration(params.since) if params.since else None
    async with core.pool.connection() as conn:
        rows = await store.list_since(conn, since, params.limit)
    return AuditListResult(entries=[AuditEntry.model_validate(r) for r in rows])


async def verify(core: Core, caller: Caller) -> AuditVerifyResult:
    async with core.pool.connection() as conn, conn.transaction():
        await store.freeze_snapshot(conn)  # the head and the rows must be read as of one instant
        head = await store.head(conn)
        verifier = ChainVerifier()
        async with aclosing(store.chain(conn)) as rows:
            async for row in rows:
                if not verifier.feed(row):
                    break
    verdict = verifier.finish(head)
    return AuditVerifyResult(
        ok=verdict.ok, checked=verdict.checked, bad_id=verdict.bad_id, problem=verdict.problem
    )
