"""The `deployctl` command tree and the one place errors become messages and exit codes.

Exit codes (ARCHITECTURE.md §7): 0 ok, 1 the operation failed, 2 usage error (including
params the daemon found invalid), 3 the daemon is unreachable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from deployd import __version__
from deployd.protocol.errors import ErrorKind, RpcError

from . import helptext, render
from .client import DaemonUnreachable
from .commands import (
    apps,
    audit,
    databases,
    deploys,
    domains,
    env,
    events,
    github,
    logs,
    processes,
    selfupdate,
    stats,
    system,
    tui,
    users,
)
from .session import STATE

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3

app = typer.Typer(
    help="deployctl: drive deployd, your self-hosted deployment platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"deployctl {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    socket: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            metavar="PATH",
            help="The daemon's socket (default: $DEPLOYD_SOCKET, /run/deployd/deployd.sock, "
            "./.deployd/deployd.sock).",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            metavar="FILE",
            help="Act as the user of the API token in FILE ('-': read it from standard "
            "input). Or set DEPLOYD_TOKEN. Never on the command line: `ps` shows it.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", hidden=True, help="Refused: use --token-file or DEPLOYD_TOKEN."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    json: Annotated[
        bool,
        typer.Option("--json", help="The same as --json after the command."),
    ] = False,
) -> None:
    if token is not None:
        raise typer.BadParameter(
            "a token on the command line is visible to every user of this host (ps, shell "
            "history): put it in a file (--token-file FILE, or - for standard input) or in "
            "DEPLOYD_TOKEN",
            param_hint="--token",
        )
    STATE.socket = socket
    STATE.token = _read_token(token_file) if token_file else os.environ.get("DEPLOYD_TOKEN")


def _read_token(path: Path) -> str:
    """The first line of FILE (or of standard input for '-'); a token is short."""
    try:
        if str(path) == "-":
            line = sys.stdin.readline(4096)
        else:
            with path.open(encoding="utf-8") as fh:
                line = fh.readline(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(
            f"cannot read the token: {exc}", param_hint="--token-file"
        ) from None
    if not line.strip():
        raise typer.BadParameter("the token file is empty", param_hint="--token-file")
    return line.strip()


app.command()(system.status)
app.command("self-update")(selfupdate.self_update)
app.add_typer(apps.app, name="apps")
app.command()(deploys.deploy)
app.command()(deploys.rollback)
app.command()(deploys.releases)
app.command()(logs.logs)
app.command()(processes.ps)
app.command()(processes.scale)
app.command()(processes.restart)
app.command()(processes.stop)
app.command()(processes.start)
app.command(context_settings={"allow_interspersed_args": False})(processes.run)
app.command()(audit.audit)
app.command()(events.events)
app.command()(stats.stats)
app.command()(stats.top)
app.command()(stats.disk)
app.command()(users.login)
app.add_typer(users.app, name="users")
app.add_typer(env.app, name="env")
app.add_typer(domains.app, name="domains")
app.add_typer(databases.app, name="db")
app.add_typer(github.app, name="github")
app.command()(tui.tui)


def _report(kind: str, message: str, code: int) -> None:
    if STATE.json:
        render.emit_json({"error": {"kind": kind, "message": message}})
    print(f"deployctl: {render.terminal_safe(message)}", file=sys.stderr)
    sys.exit(code)


GLOBAL_WITH_VALUE = ("--socket", "--token-file", "--token")


def json_after_the_command(args: list[str]) -> list[str]:
    """`deployctl --json apps list` means `deployctl apps list --json`: every command takes
    `--json`, so one given before the command moves after it (before a `--`)."""
    rest, index, found = list(args), 0, False
    while index < len(rest) and rest[index].startswith("-") and rest[index] != "--":
        if rest[index] == "--json":
            del rest[index]
            found = True
            continue
        index += 2 if rest[index] in GLOBAL_WITH_VALUE else 1
    if not found or index >= len(rest):
        return args
    end = rest.index("--") if "--" in rest else len(rest)
    return [*rest[:end], "--json", *rest[end:]]


def run() -> None:
    """Usage errors, --help and Ctrl-C are handled by the command framework (exit 2, 0, 1);
    everything that comes back from the daemon is mapped here."""
    sys.argv[1:] = json_after_the_command(sys.argv[1:])
    try:
        helptext.plain(typer.main.get_command(app))(prog_name="deployctl")
    except DaemonUnreachable as exc:
        _report("unreachable", str(exc), EXIT_UNREACHABLE)
    except RpcError as exc:
        code = EXIT_USAGE if exc.kind is ErrorKind.INVALID else EXIT_FAILED
        _report(exc.kind.value, exc.message, code)
    except ValueError as exc:  # a params model refused what was typed, before sending
        _report("invalid", _first_line(exc), EXIT_USAGE)


def _first_line(exc: Exception) -> str:
    from pydantic import ValidationError

    from deployd.protocol.common import explain

    if isinstance(exc, ValidationError):
        return "invalid input: " + explain(exc)
    return str(exc).splitlines()[0]
