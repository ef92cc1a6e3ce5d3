"""`deployctl logs NAME [-f] [--type TYPE] [--since 15m] [-n N] [--build RELEASE]`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from deployd.protocol.apps import LogLine, LogsFollowParams, LogsReadParams, LogsReadResult

from .. import render
from ..session import JsonFlag, session
from .deploys import release_number


def logs(
    name: str,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new output.")
    ] = False,
    build: Annotated[
        int | None,
        typer.Option(
            metavar="RELEASE",
            parser=release_number,
            help="Show this release's build log instead (v3, as `releases` shows it).",
        ),
    ] = None,
    lines: Annotated[
        int,
        typer.Option(
            "--lines", "-n", metavar="N", min=1, max=10_000, help="How many recent lines."
        ),
    ] = 100,
    process: Annotated[
        str | None,
        typer.Option(
            "--type",
            "-t",
            metavar="TYPE",
            help="Only this process type (worker) or process (worker.2).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="SPAN", help="Only lines of the last SPAN (90s, 15m, 12h, 7d)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """An app's runtime output (every process, each line saying which), or a release's
    build output."""
    state = session(json)
    if not follow or build is not None:
        result: LogsReadResult = state.call(
            "logs.read",
            LogsReadParams(app=name, lines=lines, build=build, process=process, since=since),
        )
        if json:
            render.emit_json(result)
        else:
            sys.stdout.write("".join(render.terminal_safe(line) + "\n" for line in result.lines))
        return
    try:
        with state.connect(timeout=None) as client:
            asked = LogsFollowParams(app=name, lines=lines, process=process, since=since)
            _, stream = client.stream("logs.follow", asked)
            for params in stream:
                line = LogLine.model_validate(params)
                if json:
                    print(line.model_dump_json(), flush=True)
                else:
                    print(render.terminal_safe(line.line), flush=True)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
