"""`audit.*`: recording every mutating call, listing and verifying the chain."""

from __future__ import annotations

from datetime import UTC, datetime

from deployd.domain.durations import parse_duration
from deployd.engine import auditing
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
        await auditing.append(
            conn,
            core.audit_seal,
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
    async with core.pool.connection() as conn:
        verdict = await auditing.verify(conn, core.audit_seal)
    return AuditVerifyResult(
        ok=verdict.ok, checked=verdict.checked, bad_id=verdict.bad_id, problem=verdict.problem
    )
