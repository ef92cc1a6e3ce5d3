"""`deployctl env ...`: an app's config (environment variables), encrypted by the daemon.

Values typed on a command line stay in shell history and show in `ps` while deployctl
runs; `env import APP -` reads them from standard input instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from deployd.protocol.env import (
    EnvHistoryResult,
    EnvListResult,
    EnvSetParams,
    EnvSetResult,
    dotenv_assignments,
)

from .. import render
from ..session import JsonFlag, Session, session
from .deploys import NoWait, follow

app = typer.Typer(help="Config: environment variables, stored encrypted.", no_args_is_help=True)

NoRestart = Annotated[
    bool,
    typer.Option("--no-restart", help="Stage the change for the next deploy; restart nothing."),
]


@app.command("list")
def list_env(
    name: str,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show the values (deployer or admin; audited).")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """An app's variables, values masked."""
    result: EnvListResult = session(json).call(
        "env.reveal" if reveal else "env.list", {"app": name}
    )
    if json:
        render.emit_json(result)
        return
    if not result.vars:
        render.out().print(render.text(f"{name} has no config (set some with `env set`)"))
        return
    for var in result.vars:
        render.out().print(render.text(f"{var.name}={var.value}"))
    if result.version != result.live_version:
        runs = f"version {result.live_version}" if result.live_version else "without config"
        render.err().print(
            render.text(
                f"config version {result.version} is staged; the live release runs {runs} "
                "(deploy to apply it)",
                style="yellow",
            )
        )


def _parse_assignments(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{key!r} is not NAME=value", param_hint="NAME=VALUE")
        values[key] = value
    return values


def _apply(state: Session, params: EnvSetParams, no_wait: bool, json: bool) -> None:
    result: EnvSetResult = state.call("env.set", params)
    job = result.job
    if job is not None and not no_wait:
        final = follow(state, job, json, emit=False)
        result = result.model_copy(update={"job": final})
    if json:
        render.emit_json(result)
        return
    if not result.changed:
        render.success("nothing changed")
        return
    what = ", ".join([*(f"set {n}" for n in result.set), *(f"unset {n}" for n in result.unset)])
    render.success(f"config version {result.version}: {what}")
    if job is None:
        render.out().print(render.text("staged: the next deploy runs with it"))
    elif no_wait:
        render.out().print(render.text(f"config release job {job.id} queued"))


@app.command("set")
def set_env(
    name: str,
    assignments: Annotated[list[str], typer.Argument(metavar="NAME=VALUE...")],
    no_restart: NoRestart = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Set variables: a new config version, live after a rolling restart of the app."""
    values = _parse_assignments(assignments)
    params = EnvSetParams(app=name, set=values, restart=not no_restart)
    _apply(session(json), params, no_wait, json)


@app.command("unset")
def unset_env(
    name: str,
    names: Annotated[list[str], typer.Argument(metavar="NAME...")],
    no_restart: NoRestart = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Remove variables: a new config version, live after a rolling restart of the app."""
    params = EnvSetParams(app=name, unset=names, restart=not no_restart)
    _apply(session(json), params, no_wait, json)


@app.command("import")
def import_env(
    name: str,
    file: Annotated[str, typer.Argument(metavar="FILE", help="A dotenv file, or - for stdin.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Unset every variable the file does not name.")
    ] = False,
    no_restart: NoRestart = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Set variables from a dotenv file (NAME=value lines; quotes and `export` allowed)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from None
    try:
        values = dotenv_assignments(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    params = EnvSetParams(app=name, set=values, replace=replace, restart=not no_restart)
    _apply(session(json), params, no_wait, json)


@app.command("history")
def history(
    name: str,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    json: JsonFlag = False,
) -> None:
    """Config versions: who changed which variables, when (never the values)."""
    result: EnvHistoryResult = session(json).call("env.history", {"app": name, "limit": limit})
    if json:
        render.emit_json(result)
        return
    render.table(
        ["VERSION", "CREATED", "BY", "CHANGES", ""],
        [
            [
                v.version,
                render.when(v.created_at),
                v.created_by or "-",
                ", ".join([*(f"+{n}" for n in v.set), *(f"-{n}" for n in v.unset)]) or "-",
                "◀ current" if v.current else "",
            ]
            for v in result.versions
        ],
    )
