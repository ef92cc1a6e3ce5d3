"""`deployctl self-update [--check] [--to V] [--rollback]`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from deployd.protocol.system import (
    StatusResult,
    UpdateCheckResult,
    UpdateInfo,
    UpdateProgress,
    UpdateStarted,
)

from .. import render
from ..client import DaemonUnreachable
from ..session import JsonFlag, Session, session

WAIT_SECONDS = 300.0
"""How long to wait for the outcome once the daemon restarts: its check (60 s by default)
twice, there and back, and the restarts."""


def self_update(
    check: Annotated[
        bool, typer.Option("--check", help="Only say what an update would install.")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="VERSION",
            help="This version (an older one only when named this way).",
        ),
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Back to the version the last update came from.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Update deployd itself, with no app downtime; back to the old version by itself if the
    new one is not healthy within a minute."""
    state = session(json)
    if check:
        _check(state.call("update.check"), json)
        return
    if rollback and to:
        raise typer.BadParameter("--rollback goes back to the previous version: drop --to")
    started = _follow(state, {"to": to, "rollback": rollback}, json)
    outcome = _outcome(state, started)
    if outcome.step == "done":
        if json:
            render.emit_json(outcome)
        else:
            render.success(f"✓ deployd {outcome.to_version} runs (was {outcome.from_version})")
        return
    reason = outcome.reason or outcome.step
    if json:
        render.emit_json(
            {
                "error": {"kind": "failed", "message": reason},
                "update": outcome.model_dump(mode="json"),
            }
        )
    else:
        render.failure(f"✗ {reason}")
    raise typer.Exit(1)


def _check(result: UpdateCheckResult, json: bool) -> None:
    if json:
        render.emit_json(result)
        return
    pairs: list[tuple[str, object]] = [
        ("running", result.running),
        ("source", result.source),
        ("newest", result.newest or "-"),
    ]
    if result.target:
        pairs.append(("update", f"{result.running} → {result.target}: deployctl self-update"))
    if result.refusal:
        pairs.append(("no update", result.refusal))
    render.pairs(pairs)


def _follow(state: Session, params: dict[str, object], json: bool) -> UpdateInfo:
    """Stream the daemon's progress until it hands over to the finisher (or fails)."""
    try:
        with state.connect(timeout=None) as client:
            first, stream = client.stream("update.start", params)
            started: UpdateInfo = UpdateStarted.model_validate(first).update
            if not json:
                render.out().print(
                    render.text(
                        f"{started.kind} of deployd: {started.from_version} → {started.to_version}",
                        style="bold",
                    )
                )
            try:
                for item in stream:
                    said = UpdateProgress.model_validate(item)
                    if not json:
                        _progress(said)
            except DaemonUnreachable:
                pass  # the daemon is being restarted: the outcome is asked for next
    except KeyboardInterrupt:
        render.err().print("left the update; it goes on (deployctl status says how it went)")
        raise typer.Exit(130) from None
    return started


def _progress(said: UpdateProgress) -> None:
    if said.step == "installing" and not said.message.startswith("installing deployd"):
        render.out().print(render.text("    " + said.message, style="dim"))
    elif said.step == "failed":
        return  # said as the outcome
    else:
        render.out().print(render.text(f"  {said.message}"))


def _outcome(state: Session, started: UpdateInfo) -> UpdateInfo:
    """The record of this update once it is finished, asked of whichever daemon answers."""
    deadline = time.monotonic() + WAIT_SECONDS
    said_waiting = False
    while True:
        update: UpdateInfo | None = None
        try:
            status: StatusResult = state.call("system.status")
            update = status.update
        except DaemonUnreachable:
            pass  # between two daemons
        if (
            update is not None
            and update.started_at == started.started_at
            and update.step in ("done", "rolled_back", "failed")
        ):
            return update
        if time.monotonic() > deadline:
            return started.model_copy(
                update={
                    "step": "failed",
                    "reason": "no outcome within 5 minutes: see deployctl status",
                }
            )
        if not said_waiting and not state.json:
            render.err().print(render.text("waiting for the new daemon to answer…", style="dim"))
            said_waiting = True
        time.sleep(1.0)
