"""`deployctl apps ...`: create, list, show and delete apps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deployd.protocol.apps import (
    AppInfo,
    AppsCreateParams,
    AppsDeleteResult,
    AppsListResult,
    AppsSetParams,
)

from .. import render
from ..session import JsonFlag, session

app = typer.Typer(help="Apps: where they come from, where they run.", no_args_is_help=True)


@app.command("list")
def list_apps(json: JsonFlag = False) -> None:
    """List apps with their live release and URL."""
    result: AppsListResult = session(json).call("apps.list")
    if json:
        render.emit_json(result)
        return
    render.table(
        ["NAME", "LIVE", "RELEASE", "URL", "SOURCE"],
        [
            [a.name, a.live_slot or "-", render.release(a.live_release), a.url, a.source]
            for a in result.apps
        ],
    )


@app.command("create")
def create(
    name: str,
    git: Annotated[
        str | None, typer.Option(metavar="URL", help="Repository URL (file://, https://, ssh://).")
    ] = None,
    branch: Annotated[str | None, typer.Option(help="Branch to deploy by default.")] = None,
    path: Annotated[
        Path | None, typer.Option(metavar="DIR", help="A local directory (copied at each deploy).")
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(
            help="auto (docker with a Dockerfile, else systemd where it is PID 1, else "
            "process), process, docker or systemd."
        ),
    ] = "auto",
    json: JsonFlag = False,
) -> None:
    """Create an app from a git repository or a local directory."""
    params = AppsCreateParams(
        name=name,
        git=git,
        branch=branch,
        runtime=runtime,
        path=str(path.absolute()) if path else None,
    )
    result: AppInfo = session(json).call("apps.create", params)
    if json:
        render.emit_json(result)
        return
    ports = ", ".join(f"{s.name} {s.port}" for s in result.slots)
    render.success(f"created {result.name} (slots: {ports}); deploy it: deployctl deploy {name}")


@app.command("show")
def show(name: str, json: JsonFlag = False) -> None:
    """An app's source, URL, live release and both slots."""
    result: AppInfo = session(json).call("apps.show", {"name": name})
    if json:
        render.emit_json(result)
        return
    render.pairs(
        [
            ("app", result.name),
            ("url", result.url),
            (
                "source",
                f"{result.source_kind} {result.source}"
                + (f" (branch {result.branch})" if result.branch else ""),
            ),
            ("runtime", result.runtime),
            (
                "live",
                f"{render.release(result.live_release)} in {result.live_slot}"
                if result.live_slot
                else "nothing yet",
            ),
            ("job", f"{result.active_job} under way" if result.active_job else "none"),
        ]
    )
    render.table(
        ["SLOT", "PORT", "STATE", "RELEASE", "RUNTIME", "PID"],
        [
            [s.name, s.port, s.state, render.release(s.release), s.runtime, s.pid or "-"]
            for s in result.slots
        ],
    )


@app.command("set")
def set_app(
    name: str,
    runtime: Annotated[
        str, typer.Option(help="auto, process, docker or systemd: from the next deploy.")
    ],
    json: JsonFlag = False,
) -> None:
    """Change an app's runtime; its next deploy switches over with no downtime."""
    params = AppsSetParams(name=name, runtime=runtime)
    result: AppInfo = session(json).call("apps.set", params)
    if json:
        render.emit_json(result)
        return
    render.success(f"{name} runs on {result.runtime} from its next deploy")


@app.command("delete")
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json: JsonFlag = False,
) -> None:
    """Stop the app, remove its nginx site, builds and logs."""
    if not yes and not json:
        typer.confirm(f"Delete {name}, its releases and logs?", abort=True)
    result: AppsDeleteResult = session(json).call("apps.delete", {"name": name})
    if json:
        render.emit_json(result)
        return
    render.success(f"deleted {result.name} ({result.stopped_slots} processes stopped)")
