"""`deployctl ps | scale | restart | stop | start | run`: an app's processes, as on Heroku."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterable
from typing import Annotated, Any, NoReturn

import typer

from deployd.protocol.apps import (
    AppsPsResult,
    AppsRestartParams,
    AppsRunParams,
    AppsScaleParams,
    JobInfo,
    RunEnded,
    RunStarted,
)

from .. import render
from ..client import DaemonUnreachable
from ..session import JsonFlag, Session, session
from .deploys import NoWait, follow


def ps(name: str, json: JsonFlag = False) -> None:
    """Each process of the app: release, pid, state, uptime, restarts, CPU, memory, port."""
    result: AppsPsResult = session(json).call("apps.ps", {"name": name})
    if json:
        render.emit_json(result)
        return
    if result.stopped:
        render.out().print(f"{name} is stopped: `deployctl start {name}` starts it")
    elif result.formation:
        counts = ", ".join(f"{kind}={n}" for kind, n in sorted(result.formation.items()))
        render.out().print(render.text(f"{render.release(result.live_release)}: {counts}"))
    render.table(
        ["PROCESS", "SLOT", "RELEASE", "STATE", "PID", "UP", "RESTARTS", "CPU", "MEM", "PORT"],
        [
            [
                p.name,
                p.slot,
                render.release(p.release),
                p.state if p.last_exit is None or p.state == "up" else f"{p.state}: {p.last_exit}",
                p.pid or "-",
                render.ago(p.started_at) if p.state != "crashed" else "-",
                p.restarts,
                f"{p.cpu_percent:g}%" if p.cpu_percent is not None else "-",
                render.size(p.rss_bytes) if p.rss_bytes is not None else "-",
                p.port or "",
            ]
            for p in result.processes
        ],
    )


def scale(
    name: str,
    counts: Annotated[
        list[str], typer.Argument(metavar="TYPE=COUNT...", help="For example: web=2 worker=1")
    ],
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Run this many processes of each type; saved for every later release."""
    state = session(json)
    job: JobInfo = state.call("apps.scale", AppsScaleParams(app=name, changes=counts))
    _run(state, job, json, no_wait, f"{name} runs {' '.join(counts)}")


def restart(
    name: str,
    process_type: Annotated[
        str | None, typer.Argument(metavar="[TYPE]", help="Only this process type.")
    ] = None,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Restart the app's processes: web ones one at a time, with no dropped request."""
    state = session(json)
    job: JobInfo = state.call("apps.restart", AppsRestartParams(app=name, type=process_type))
    _run(state, job, json, no_wait, f"restarted {name}{' ' + process_type if process_type else ''}")


def stop(name: str, no_wait: NoWait = False, json: JsonFlag = False) -> None:
    """Stop every process; the app's address answers 503 "stopped" until `start`."""
    state = session(json)
    job: JobInfo = state.call("apps.stop", {"name": name})
    _run(state, job, json, no_wait, f"{name} is stopped")


def start(name: str, no_wait: NoWait = False, json: JsonFlag = False) -> None:
    """Start a stopped app's live release again."""
    state = session(json)
    job: JobInfo = state.call("apps.start", {"name": name})
    _run(state, job, json, no_wait, f"{name} runs")


def _run(state: Session, job: JobInfo, json: bool, no_wait: bool, done: str) -> None:
    if no_wait:
        render.emit_json(job) if json else render.success(f"queued {job.kind} job {job.id}")
        return
    follow(state, job, json)
    if not json:
        render.success(f"✓ {done}")


def run(
    name: str,
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="-- COMMAND [ARGS]...",
            help="One argument is run by /bin/sh -c (pipes, $VARS); several as they are.",
        ),
    ],
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background; output to the logs.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Run a one-off command of the live release, with its config, as the app's account:
    attached to this terminal (stdin, output, Ctrl-C and exit status pass through)."""
    detach, json, command = _own_options(command, detach, json)
    state = session(json)
    if not command:
        raise typer.BadParameter("give the command to run after NAME", param_hint="COMMAND")
    params = AppsRunParams(app=name, command=command, detach=detach)
    with state.connect(timeout=None) as client:
        started, stream = client.stream("apps.run", params)
        assert isinstance(started, RunStarted)
        if detach or started.handoff is None:
            if json:
                render.emit_json(started)
            else:
                render.success(
                    f"started {started.process} of {render.release(started.release)}: "
                    f"`deployctl logs {name} --type {started.process}` shows its output"
                )
            return
        ended = attached(started.handoff, stream)
    exit_as(ended, "the daemon ended the run")


def attached(handoff: str, stream: Iterable[Any]) -> RunEnded | None:
    """Hand the terminal to the daemon's one-time socket, pass our signals on, and wait
    for the stream to say how the command ended."""
    with hand_over(handoff) as control:
        forwarding = forward_signals(control)
        try:
            return next((RunEnded.model_validate(p) for p in stream), None)
        finally:
            for signum, previous in forwarding.items():
                signal.signal(signum, previous)


def exit_as(ended: RunEnded | None, otherwise: str) -> NoReturn:
    """Exit with the command's own status, or 1 saying why it has none."""
    if ended is None or ended.status is None:
        render.failure(f"✗ {ended.error if ended and ended.error else otherwise}")
        raise typer.Exit(1)
    raise typer.Exit(ended.status)


def _own_options(command: list[str], detach: bool, json: bool) -> tuple[bool, bool, list[str]]:
    """Options end at NAME (so `run NAME ls -la` passes `-la` to ls): ours may still come
    right after NAME, up to `--` or the command's first word."""
    while command and command[0] in ("--detach", "-d", "--json"):
        detach = detach or command[0] != "--json"
        json = json or command[0] == "--json"
        command = command[1:]
    return detach, json, command[1:] if command[:1] == ["--"] else command


def hand_over(path: str, fds: tuple[int, int, int] = (0, 1, 2)) -> socket.socket:
    """Connect to the daemon's one-time socket and send it our stdin, stdout and stderr;
    the socket stays open to carry signals, and its closing hangs the command up."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        socket.send_fds(sock, [b"fds"], list(fds))
    except OSError as exc:
        sock.close()
        raise DaemonUnreachable(f"could not hand the terminal to deployd: {exc}") from None
    return sock


def forward_signals(control: socket.socket) -> dict[int, Any]:
    """The user's Ctrl-C (and a terminal's hang-up) reach this client: pass them on."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            control.send(bytes([signum]))

    return {
        signum: signal.signal(signum, forward)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)
    }
