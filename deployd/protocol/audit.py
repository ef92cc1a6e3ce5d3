"""`audit.*`: the hash-chained record of every mutating call."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .common import Duration, Params, Result


class AuditEntry(Result):
    id: int
    at: datetime
    actor: str
    peer_uid: int | None
    method: str
    target: str | None
    outcome: str
    detail: str | None


class AuditListParams(Params):
    since: Duration | None = None
    limit: int = Field(default=200, ge=1, le=10_000)


class AuditListResult(Result):
    entries: list[AuditEntry]


class AuditVerifyResult(Result):
    ok: bool
    checked: int
    bad_id: int | None = None
    problem: str | None = None
