"""`deployctl audit`: who did what, and whether the record is intact."""

from __future__ import annotations

from typing import Annotated

import typer

from deployd.protocol.audit import AuditListParams, AuditListResult, AuditVerifyResult

from .. import render
from ..session import JsonFlag, session


def audit(
    since: Annotated[
        str | None, typer.Option(help="Only entries this recent, e.g. 1d, 12h.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 200,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the hash chain for edited or deleted rows.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Show the audit log of every mutating call (admins only)."""
    if verify:
        verdict: AuditVerifyResult = session(json).call("audit.verify")
        if json:
            render.emit_json(verdict)
        elif verdict.ok:
            render.success(f"audit log intact: {verdict.checked} entries verified")
        else:
            render.failure(
                f"audit log TAMPERED: entry {verdict.bad_id}: {verdict.problem} "
                f"({verdict.checked} entries verified before it)"
            )
        if not verdict.ok:
            raise typer.Exit(1)
        return
    result: AuditListResult = session(json).call(
        "audit.list", AuditListParams(since=since, limit=limit)
    )
    if json:
        render.emit_json(result)
        return
    render.table(
        ["ID", "WHEN", "WHO", "UID", "METHOD", "TARGET", "OUTCOME", "DETAIL"],
        [
            [
                e.id,
                render.when(e.at),
                e.actor,
                e.peer_uid,
                e.method,
                e.target or "",
                e.outcome,
                e.detail or "",
            ]
            for e in result.entries
        ],
    )
