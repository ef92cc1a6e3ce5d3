"""`deployctl db ...`: PostgreSQL databases for apps, their backups and restores."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from deployd.protocol.apps import JobInfo
from deployd.protocol.databases import (
    BackupInfo,
    DbBackupsResult,
    DbDropResult,
    DbInfo,
    DbLinkResult,
    DbListResult,
    DbPsqlStarted,
    DbRestoreResult,
    DbScheduleResult,
    RemoteInfo,
    SizeHistory,
)

from .. import render
from ..session import JsonFlag, Session, session
from .deploys import follow
from .processes import attached, exit_as

app = typer.Typer(
    help="Databases: PostgreSQL for apps, backups that are verified, safe restores.",
    no_args_is_help=True,
)

LONG_WORK = 6 * 3600.0
"""A backup or restore of a large database takes as long as it takes."""
As = Annotated[str, typer.Option("--as", help="The app's variable for the URL.")]
NoRestart = Annotated[
    bool, typer.Option("--no-restart", help="Stage the config change; apply it later.")
]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Do not follow the config release.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]


def _size(n: int | None) -> str:
    return render.size(n) if n is not None else "-"


def _linked(info: DbInfo) -> str:
    return ", ".join(
        link.app if link.variable == "DATABASE_URL" else f"{link.app} ({link.variable})"
        for link in info.links
    )


@app.command("list")
def list_databases(json: JsonFlag = False) -> None:
    """Every database: linked apps, size, connections, last verified backup."""
    result: DbListResult = session(json).call("databases.list", {})
    if json:
        render.emit_json(result)
        return
    if not result.databases:
        render.out().print(render.text("no databases yet (`deployctl db create NAME --app APP`)"))
        return
    render.table(
        ["NAME", "LINKED", "SIZE", "CONNECTIONS", "LAST VERIFIED BACKUP", "SCHEDULE"],
        [
            [
                d.name,
                _linked(d) or "-",
                _size(d.size_bytes),
                str(d.connections) if d.connections is not None else "-",
                (render.when(d.last_verified_at) if d.last_verified_at else "never")
                + (" (overdue)" if d.backup_overdue else ""),
                d.schedule or "-",
            ]
            for d in result.databases
        ],
    )
    problem = next((d.problem for d in result.databases if d.problem), None)
    if problem:
        render.failure(problem)


def _about(seconds: float) -> str:
    """A span in one rounded unit, as a chart's caption says it: `7 d`, `5 h`, `40 min`."""
    if seconds >= 1.5 * 86400:
        return f"{round(seconds / 86400)} d"
    if seconds >= 1.5 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{max(1, round(seconds / 60))} min"


def size_history(history: SizeHistory | None, width: int = render.SPARKLINE_WIDTH) -> str:
    """The size over the range as a sparkline (lowest to highest size) of `width` columns
    at most, and its growth."""
    if history is None:
        return "-"
    points = history.points
    if not points:
        return "no samples in the range (the daemon takes one every 5 minutes)"
    if len(points) == 1:
        return f"{render.size(points[0].bytes)} at {render.when(points[0].at)} (one sample)"
    values = [float(p.bytes) for p in points]
    grown = points[-1].bytes - points[0].bytes
    span = _about((points[-1].at - points[0].at).total_seconds())
    growth = f"{'+' if grown >= 0 else '-'}{render.size(abs(grown))} in {span}"
    return f"{render.sparkline(values, width, low=min(values))}  {growth}"


def _chart_width() -> int:
    """The sparkline's columns: 60, fewer on a narrow terminal (the row fits one line)."""
    room = render.out().width - len("last verified backup") - 2 - len("  +1023.9 MiB in 23 h")
    return max(12, min(render.SPARKLINE_WIDTH, room))


def _show(info: DbInfo) -> None:
    rows = [
        ("name", info.name),
        ("host", info.host or "-"),
        ("port", str(info.port) if info.port else "-"),
        ("user", info.user),
        ("password", info.password if info.password is not None else "•••••• (--reveal)"),
        ("url", info.url or "-"),
        ("linked", _linked(info) or "-"),
        ("kept by restores", ", ".join(info.kept) or "-"),
        ("size", _size(info.size_bytes)),
        ("size over time", size_history(info.size_history, width=_chart_width())),
        ("connections", str(info.connections) if info.connections is not None else "-"),
        ("schedule", info.schedule or "none (`deployctl db schedule`)"),
        (
            "last verified backup",
            (render.when(info.last_verified_at) if info.last_verified_at else "never")
            + (" — overdue" if info.backup_overdue else ""),
        ),
        ("created", render.when(info.created_at)),
    ]
    if info.migrated_at is not None:
        outcome = "ok" if info.migrate_status == 0 else f"exit status {info.migrate_status}"
        rows.append(("last migration", f"{render.when(info.migrated_at)}: {outcome}"))
    render.pairs(rows)
    if info.problem:
        render.failure(info.problem)


@app.command("show")
def show(
    name: str,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show the password (recorded in the audit log).")
    ] = False,
    since: Annotated[
        str,
        typer.Option(
            "--since", help="The size's history: 90m, 2h, 7d, 2w, or 2026-11-01..2026-11-15."
        ),
    ] = "7d",
    json: JsonFlag = False,
) -> None:
    """Host, port, database and user, its size over time; the password only with --reveal."""
    result: DbInfo = session(json).call(
        "databases.reveal" if reveal else "databases.show", {"name": name, "since": since}
    )
    if json:
        render.emit_json(result)
        return
    _show(result)


@app.command("create")
def create(
    name: str,
    app_name: Annotated[
        str | None, typer.Option("--app", help="Link it to this app (a config release).")
    ] = None,
    variable: As = "DATABASE_URL",
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """A database with its own role; with --app, the app gets DATABASE_URL."""
    state = session(json)
    params = {"name": name, "app": app_name, "variable": variable}
    with state.connect(timeout=LONG_WORK) as client:
        result: DbInfo = client.call("databases.create", params)
    if not json:
        render.success(f"✓ created {result.name} on {result.host}:{result.port}")
        if app_name:
            render.out().print(render.text(f"  {app_name} gets it as {variable}"))
    if result.job is not None and not no_wait:
        result = result.model_copy(update={"job": follow(state, result.job, json, emit=False)})
    if json:
        render.emit_json(result)


@app.command("link")
def link(
    database: str,
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    variable: As = "DATABASE_URL",
    no_restart: NoRestart = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Give APP the database's URL in a config variable (DATABASE_URL by default)."""
    state = session(json)
    params = {
        "database": database,
        "app": app_name,
        "variable": variable,
        "restart": not no_restart,
    }
    result: DbLinkResult = state.call("databases.link", params)
    if not json:
        render.success(
            f"✓ {app_name} gets {database} as {variable} (config version {result.config_version})"
        )
    _applied(state, result, no_wait, json)


def _applied(state: Session, result: DbLinkResult, no_wait: bool, json: bool) -> None:
    """Follow the config release that applies a link or an unlink, unless told not to."""
    if result.job is not None and not no_wait:
        result = result.model_copy(update={"job": follow(state, result.job, json, emit=False)})
    if json:
        render.emit_json(result)
    elif result.job is None:
        render.out().print(render.text("  staged: the next deploy runs with it"))
    elif no_wait:
        render.out().print(render.text(f"  config release job {result.job.id} queued"))


@app.command("unlink")
def unlink(
    database: str,
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    no_restart: NoRestart = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Take the database's variable away from APP (a config release)."""
    state = session(json)
    params = {"database": database, "app": app_name, "restart": not no_restart}
    result: DbLinkResult = state.call("databases.unlink", params)
    if not json:
        render.success(f"✓ {app_name} no longer has {result.variable}")
    _applied(state, result, no_wait, json)


@app.command("drop")
def drop(
    name: str,
    kept: Annotated[
        bool, typer.Option("--kept", help="Drop only the copies restores kept of it.")
    ] = False,
    yes: Yes = False,
    json: JsonFlag = False,
) -> None:
    """Drop the database, its role and the copies restores kept: refused while linked;
    a verified backup first. With --kept, only the kept copies."""
    if not yes and not json:
        what = f"the copies restores kept of {name}" if kept else f"the database {name}"
        typer.confirm(
            f"Drop {what}? (a final backup is kept)" if not kept else f"Drop {what}?", abort=True
        )
    with session(json).connect(timeout=LONG_WORK) as client:
        result: DbDropResult = client.call("databases.drop", {"name": name, "kept_only": kept})
    if json:
        render.emit_json(result)
        return
    final = result.final_backup
    if final is None:
        dropped = ", ".join(result.dropped) or "nothing: there were none"
        render.success(f"✓ dropped {dropped}")
        return
    render.success(
        f"✓ dropped {', '.join(result.dropped)}; its final backup is {final.id} "
        f"({_size(final.size_bytes)})"
    )


@app.command("backup")
def backup(name: str, json: JsonFlag = False) -> None:
    """Dump, verify and record a backup now."""
    if not json:
        render.err().print(render.text(f"→ dumping and verifying {name} …"))
    with session(json).connect(timeout=LONG_WORK) as client:
        result: BackupInfo = client.call("databases.backup", {"name": name})
    if json:
        render.emit_json(result)
        return
    took = (
        f", {(result.finished_at - result.started_at).total_seconds():.1f}s"
        if result.finished_at
        else ""
    )
    render.success(
        f"✓ backup {result.id} of {name} verified: {_size(result.size_bytes)}, "
        f"{result.tables} tables, {result.rows} rows{took}"
    )
    render.out().print(render.text(f"  sha256 {result.sha256}"))


@app.command("backups")
def backups(name: str, json: JsonFlag = False) -> None:
    """Every backup of the database: when, size, verified or why not, where."""
    result: DbBackupsResult = session(json).call("databases.backups", {"name": name})
    if json:
        render.emit_json(result)
        return
    if not result.backups:
        render.out().print(render.text(f"{name} has no backups (`deployctl db backup {name}`)"))
        return
    render.table(
        ["ID", "STARTED", "STATUS", "TRIGGER", "SIZE", "TABLES", "ROWS", "WHERE", "PROBLEM"],
        [
            [
                str(b.id),
                render.when(b.started_at),
                b.status,
                b.trigger,
                _size(b.size_bytes),
                str(b.tables) if b.tables is not None else "-",
                str(b.rows) if b.rows is not None else "-",
                _where(b),
                b.error or _remote_problem(b),
            ]
            for b in result.backups
        ],
    )


def _where(backup: BackupInfo) -> str:
    if backup.status == "deleted" and backup.remote == "copied":
        return "remote (not deleted yet)"
    if backup.status != "verified":
        return "-"
    if backup.remote in ("failed", "running"):
        return f"local (remote {backup.remote})"
    return backup.location


def _remote_problem(backup: BackupInfo) -> str:
    """What is wrong with the copy off this host, and what happens next."""
    if not backup.remote_error:
        return ""
    if backup.remote == "copied":  # of a pruned backup
        return f"remote copy not deleted yet (tried again later): {backup.remote_error}"
    if backup.remote != "failed":
        return ""
    tries = f"attempt {backup.remote_attempts}/{backup.remote_attempts_max}"
    if backup.status != "verified":
        return f"remote copy failed ({tries}): {backup.remote_error}"
    if backup.remote_next_try_at is None:
        return f"remote copy failed ({tries}, given up): {backup.remote_error}"
    wait = (backup.remote_next_try_at - datetime.now(UTC)).total_seconds()
    then = f"next in {_about(wait)}" if wait > 0 else "next: due now"
    return f"remote copy failed ({tries}, {then}): {backup.remote_error}"


@app.command("schedule")
def schedule(
    name: str,
    when: Annotated[
        list[str], typer.Argument(help="hourly [:MM] | daily HH:MM | weekly DAY HH:MM | off")
    ],
    keep: Annotated[int, typer.Option("--keep", help="Scheduled backups kept.")] = 14,
    json: JsonFlag = False,
) -> None:
    """Back the database up on a schedule (UTC), keeping the newest --keep."""
    result: DbScheduleResult = session(json).call(
        "databases.schedule", {"name": name, "schedule": when, "keep": keep}
    )
    if json:
        render.emit_json(result)
        return
    if result.schedule is None:
        render.success(f"✓ {name} is no longer backed up on a schedule")
        return
    nxt = render.when(result.next_run_at) if result.next_run_at else "-"
    render.success(f"✓ {name}: {result.schedule}; next {nxt}")


@app.command("restore")
def restore(
    name: str,
    backup_id: Annotated[int, typer.Argument(metavar="BACKUP")],
    into: Annotated[
        str | None, typer.Option("--into", help="Restore beside it, as a new database.")
    ] = None,
    yes: Yes = False,
    json: JsonFlag = False,
) -> None:
    """Restore a backup: into a new database, checked table by table, then swapped in
    (the replaced one is kept), or beside it with --into."""
    if not yes and not json and into is None:
        typer.confirm(
            f"Replace {name} with backup {backup_id}? (the current one is kept, renamed)",
            abort=True,
        )
    if not json:
        render.err().print(render.text(f"→ restoring backup {backup_id} …"))
    params = {"name": name, "backup": backup_id, "into": into}
    with session(json).connect(timeout=LONG_WORK) as client:
        result: DbRestoreResult = client.call("databases.restore", params)
    if json:
        render.emit_json(result)
        return
    render.success(
        f"✓ backup {result.backup} restored as {result.database}: {result.tables} tables, "
        f"{result.rows} rows, each table checked"
    )
    if result.kept:
        render.out().print(render.text(f"  the database it replaced is kept as {result.kept}"))


@app.command("psql")
def psql(name: str) -> None:
    """An interactive psql on the database, as its own role (the password stays in the
    daemon); its exit status is psql's."""
    with session(False).connect(timeout=None) as client:
        started, stream = client.stream("databases.psql", {"name": name})
        assert isinstance(started, DbPsqlStarted)
        ended = attached(started.handoff, stream)
    exit_as(ended, "psql did not start")


remote = typer.Typer(
    help="Remote storage (S3-compatible) that gets an encrypted copy of every backup.",
    no_args_is_help=True,
)
app.add_typer(remote, name="remote")


def _remote(info: RemoteInfo) -> None:
    render.pairs(
        [
            ("endpoint", info.endpoint or "- (DEPLOYD_BACKUP_S3_ENDPOINT)"),
            ("bucket", info.bucket or "- (DEPLOYD_BACKUP_S3_BUCKET)"),
            ("prefix", info.prefix),
            ("access key id", info.access_key_id or "- (`deployctl db remote set`)"),
            ("encrypted to", info.recipient or "-"),
            ("copies", "every verified backup" if info.ready else "none: not set up"),
        ]
    )


@remote.command("show")
def remote_show(json: JsonFlag = False) -> None:
    """Where copies go, and whether they are made."""
    result: RemoteInfo = session(json).call("storage.show", {})
    if json:
        render.emit_json(result)
        return
    _remote(result)


@remote.command("set")
def remote_set(
    access_key_id: Annotated[str, typer.Option("--access-key-id", help="The storage's key id.")],
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the secret access key from stdin.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Keep the storage's keys in the vault (admins). The first time, an age key pair is
    made to encrypt every copy: its secret half is shown once, to keep off this host."""
    if secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = str(typer.prompt("Secret access key", hide_input=True))
    else:
        raise typer.BadParameter("no terminal to ask for the secret: use --secret-stdin")
    if not secret:
        raise typer.BadParameter("the secret access key is empty", param_hint="--secret-stdin")
    params = {"access_key_id": access_key_id, "secret_access_key": secret}
    result: RemoteInfo = session(json).call("storage.set", params)
    if json:
        render.emit_json(result)
        return
    render.success("✓ remote storage keys kept in the vault")
    _remote(result)
    if result.identity:
        render.secret_once("age identity (decrypts the copies)", result.identity)
        render.err().print(
            render.text(
                "Keep it off this host: with this server gone, only it opens the copies "
                "(`age --decrypt --identity FILE`).",
                style="yellow",
            )
        )


@app.command("migrate")
def migrate(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Run APP's `release:` command (its migrations) again, against the live release;
    `db show` keeps the outcome on the databases it is linked to."""
    state = session(json)
    job: JobInfo = state.call("databases.migrate", {"app": app_name})
    if no_wait:
        if json:
            render.emit_json(job)
        else:
            render.out().print(render.text(f"migration job {job.id} queued"))
        return
    follow(state, job, json)
