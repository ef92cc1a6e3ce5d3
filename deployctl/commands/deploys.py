"""`deployctl deploy | rollback | releases`: getting releases live, and back."""

from __future__ import annotations

from typing import Annotated

import typer

from deployd.protocol.apps import (
    DeploysRollbackParams,
    DeploysStartParams,
    JobInfo,
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.events import Event

from .. import render
from ..session import JsonFlag, Session, session

NoWait = Annotated[
    bool, typer.Option("--no-wait", help="Queue the job and return; the daemon carries on.")
]


def release_number(value: str) -> int:
    """`v3` or `3`: a release as `deployctl releases` shows it."""
    digits = value.strip().removeprefix("v").removeprefix("V")
    if not (digits.isascii() and digits.isdigit() and 0 < len(digits) < 10 and int(digits)):
        raise typer.BadParameter(f"{value!r} is not a release: name it as `releases` does (v3)")
    return int(digits)


def follow(state: Session, job: JobInfo, json: bool, *, emit: bool = True) -> JobInfo:
    """Stream the job's progress until its release is live (exit 0) or it failed (exit 1).
    Returns the finished job; with `--json` it is printed unless `emit` is False."""
    try:
        with state.connect(timeout=None) as client:
            _, stream = client.stream("deploys.watch", {"job": job.id})
            for params in stream:
                event = Event.model_validate(params)
                if event.kind == "deploy.live":  # the job goes on: drain, postdeploy scripts
                    if not json:
                        render.success(f"✓ {event.message}")
                    continue
                if event.kind == "deploy.failed":
                    if json:
                        render.emit_json(
                            {"error": {"kind": "failed", "message": event.message}, "job": job.id}
                        )
                    else:
                        render.failure(f"✗ {event.message}")
                    raise typer.Exit(1)
                if event.kind == "deploy.succeeded":
                    break
                if not json:
                    _progress(event)
    except KeyboardInterrupt:
        render.err().print(f"left job {job.id}; it goes on in the daemon")
        raise typer.Exit(130) from None
    final: JobInfo = state.call("deploys.show", {"job": job.id})
    if json and emit:
        render.emit_json(final)
    return final


def _progress(event: Event) -> None:
    if event.kind == "deploy.output":
        render.out().print(render.text("    " + event.message, style="dim"))
    elif event.kind in ("deploy.step", "deploy.started"):
        render.out().print(render.text(f"→ {event.message}"))
    elif event.kind in ("deploy.config", "deploy.warning"):
        render.out().print(render.text(f"! {event.message}", style="yellow"))


def deploy(
    name: str,
    ref: Annotated[
        str | None, typer.Option(help="Branch, tag or commit (default: the app's).")
    ] = None,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Build and start a release in the idle slot, check it, switch traffic to it."""
    state = session(json)
    job: JobInfo = state.call("deploys.start", DeploysStartParams(app=name, ref=ref))
    if no_wait:
        render.emit_json(job) if json else render.success(f"queued deploy job {job.id}")
        return
    follow(state, job, json)


def rollback(
    name: str,
    to: Annotated[
        int | None,
        typer.Option(
            metavar="RELEASE",
            parser=release_number,
            help="The release, as `releases` shows it: v3 (default: the one live before).",
        ),
    ] = None,
    keep_env: Annotated[
        bool,
        typer.Option(
            "--keep-env", help="Run the earlier build with today's config, not the one it had."
        ),
    ] = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Put a kept earlier release live again, without rebuilding, with the config it ran
    with (unless --keep-env)."""
    state = session(json)
    job: JobInfo = state.call(
        "deploys.rollback", DeploysRollbackParams(app=name, to=to, keep_env=keep_env)
    )
    if no_wait:
        render.emit_json(job) if json else render.success(f"queued rollback job {job.id}")
        return
    follow(state, job, json)


def releases(
    name: str,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    json: JsonFlag = False,
) -> None:
    """An app's releases, newest first: which is live, which can be rolled back to."""
    result: ReleasesListResult = session(json).call(
        "releases.list", ReleasesListParams(app=name, limit=limit)
    )
    if json:
        render.emit_json(result)
        return
    render.table(
        ["RELEASE", "COMMIT", "REF", "CONFIG", "CREATED", "BY", "STATUS", "", "WHY"],
        [
            [
                render.release(r.version),
                (r.commit or "-")[:12],
                r.ref or "-",
                r.env_version or "-",
                render.when(r.created_at),
                r.created_by or "-",
                f"{r.status} ({r.failed_step})" if r.failed_step else r.status,
                "◀ live" if r.live else ("kept" if r.kept else ""),
                _first_line(r.error),
            ]
            for r in result.releases
        ],
    )


def _first_line(text: str | None, width: int = 60) -> str:
    """The gist of an error in a table cell; `--json` and `logs --build` have all of it."""
    line = (text or "").strip().split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 1] + "…"
