"""`deployd serve | dev | migrate | admin create`: the daemon's own command line."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from deployd import __version__
from deployd.config import Settings, load_settings, resource_dir
from deployd.logsetup import configure_logging

if TYPE_CHECKING:
    from deployd.store.cluster import PrivateCluster
    from deployd.vault.audit_seal import AuditSeal

app = typer.Typer(
    help="deployd: a self-hosted deployment platform for one Linux server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
admin_app = typer.Typer(help="Administration that works without a running daemon.")
app.add_typer(admin_app, name="admin")
keys_app = typer.Typer(help="The vault's key, which encrypts every secret.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def expected(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """The failures a command reports in one line (and `more` of its own). The daemon's code
    is imported only by the commands that use it: `deployd web`, a client, never loads it
    (half the memory, and it starts in a third of the time)."""
    from deployd.daemon import StartupError
    from deployd.lifecycle import AlreadyRunning
    from deployd.store.cluster import ClusterError
    from deployd.store.migrate import MigrationError
    from deployd.vault.audit_seal import AuditSealError

    return (
        AlreadyRunning,
        AuditSealError,
        ClusterError,
        MigrationError,
        StartupError,
        OSError,
        *more,
    )


def _fail(message: str) -> typer.Exit:
    typer.echo(f"deployd: {message}", err=True)
    return typer.Exit(1)


def _run(
    settings: Settings,
    mode: Literal["dev", "serve"],
    example: bool = False,
    first_start: Path | None = None,
) -> None:
    """Run the daemon; `first_start` (a dev root that was empty) is removed again if the
    daemon fails before it serves, so the next try starts clean."""
    from deployd.daemon import Daemon

    daemon = Daemon(settings, mode, example=example)
    try:
        daemon.run()
    except expected() as exc:
        if first_start is not None and not daemon.listening:
            _forget(first_start)
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


def _forget(root: Path) -> None:
    """A failed first start's half-made state (a link to the state's home included)."""
    if root.is_symlink():
        target = root.resolve()
        root.unlink()
        shutil.rmtree(target, ignore_errors=True)
    else:
        shutil.rmtree(root, ignore_errors=True)
    typer.echo(f"deployd: removed {root}, which this failed first start had made", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deployd {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    configure_logging(verbose)


@app.command()
def serve() -> None:
    """Run the daemon against the configured PostgreSQL and the production paths."""
    _run(load_settings(), "serve")


@app.command()
def dev(
    root: Annotated[
        Path, typer.Option(help="Directory for all state, sockets and the private PostgreSQL.")
    ] = Path(".deployd"),
    http_port: Annotated[
        int | None,
        typer.Option(
            min=1024,
            max=65535,
            help="Port of the private nginx serving the apps [default: $DEPLOYD_HTTP_PORT or 8080]",
        ),
    ] = None,
    https_port: Annotated[
        int | None,
        typer.Option(
            min=1024,
            max=65535,
            help="Port where the private nginx serves HTTPS once a certificate exists "
            "[default: $DEPLOYD_HTTPS_PORT or 8443]",
        ),
    ] = None,
    example: Annotated[
        bool, typer.Option(help="On an empty root, deploy the bundled example app `hello`.")
    ] = True,
    web_port: Annotated[
        int | None,
        typer.Option(
            min=1024,
            max=65535,
            help="Also run `deployd web` (the web GUI, GitHub's webhooks) on 127.0.0.1 at "
            "this port",
        ),
    ] = None,
) -> None:
    """Run everything unprivileged in one directory: private PostgreSQL and nginx, the daemon
    and its socket; on first start, deploy the bundled example app."""
    root = root.absolute()
    fresh = not root.exists() or (root.is_dir() and not any(root.iterdir()))
    try:
        where = dev_root(root)
    except OSError as exc:
        raise _fail(f"cannot prepare {root}: {exc}") from None
    settings = load_settings(root=where, http_port=http_port, https_port=https_port)
    with _web_child(settings, web_port):
        _run(settings, "dev", example, first_start=root if fresh else None)


@contextmanager
def _web_child(settings: Settings, port: int | None) -> Iterator[None]:
    """`deployd dev --web-port N`: `deployd web` as a child process on the dev socket, for as
    long as the daemon runs (and no longer, even if dev is killed: PR_SET_PDEATHSIG)."""
    if port is None:
        yield
        return
    command = [sys.executable, "-m", "deployd", "web", "--listen", "127.0.0.1"]
    command += ["--port", str(port), "--socket", str(settings.paths.socket)]
    env = {**os.environ, "DEPLOYD_ROOT": str(settings.root)}
    child = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)
    typer.echo(
        f"deployd web: http://127.0.0.1:{port}/ (log in as a deployd user; "
        "GitHub's webhooks at /hooks/github)"
    )
    try:
        yield
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@app.command()
def web(
    listen: Annotated[
        str | None,
        typer.Option(help="Address to listen on [default: $DEPLOYD_WEB_LISTEN or 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port [default: $DEPLOYD_WEB_PORT or 8090]"),
    ] = None,
    socket: Annotated[
        Path | None,
        typer.Option(
            help="The daemon's socket [default: $DEPLOYD_SOCKET, else the configured one]"
        ),
    ] = None,
) -> None:
    """Serve the web GUI and receive GitHub's webhooks (POST /hooks/github): a client of the
    daemon's socket like deployctl, with no rights of its own (people log in as deployd
    users, and act as themselves)."""
    from pydantic import ValidationError

    from deployd.web.server import WebConfig
    from deployd.web.server import serve as serve_web

    try:
        settings = _web_settings(web_listen=listen, web_port=port, socket=socket)
    except ValidationError as exc:
        raise _fail(f"invalid settings: {exc}") from None
    config = WebConfig(
        listen=settings.web_listen,
        port=settings.web_port,
        socket=settings.paths.socket,
        stream_seconds=settings.web_stream_seconds,
    )
    serve_web(config)


def _web_settings(**overrides: Any) -> Settings:
    """The web process runs as an account of its own (units/deployd-web.service), which may
    not read production's config file (root's alone: it holds the database's password);
    then its settings come from the environment and the command line."""
    try:
        return load_settings(**overrides)
    except PermissionError as exc:
        logging.getLogger("deployd.web").info(
            "%s is not readable by this account: settings come from DEPLOYD_* alone",
            exc.filename,
        )
        updates = {k: v for k, v in overrides.items() if v is not None}
        return Settings.model_validate({**Settings().model_dump(), **updates})


DEV_HOMES = Path("/var/lib/deployd-dev")


def dev_root(root: Path) -> Path:
    """Where a dev instance keeps its state: `root` itself, unless the daemon is root and a
    directory above `root` cannot be crossed by other accounts (a clone under /root): the
    apps' own accounts, nginx's and PostgreSQL's could not reach their files there, so the
    state goes to /var/lib/deployd-dev/<hash> and `root` becomes a link to it."""
    if os.geteuid() != 0:
        return root
    if root.is_symlink():
        return root.resolve()
    blocked = next((d for d in root.parents if not d.stat().st_mode & 0o001), None)
    if blocked is None:
        return root
    home = DEV_HOMES / hashlib.sha256(str(root).encode()).hexdigest()[:12]
    DEV_HOMES.mkdir(mode=0o755, exist_ok=True)
    home.mkdir(mode=0o755, exist_ok=True)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    if root.exists():
        raise OSError(
            f"{root} exists, but the apps' accounts cannot reach it ({blocked} cannot be "
            "crossed by other users): move it away, or choose a --root they can reach"
        )
    root.symlink_to(home)
    typer.echo(
        f"{root} -> {home}: the apps' own accounts cannot cross {blocked}, so this "
        "instance keeps its state there"
    )
    return home


def _conninfo(settings: Settings) -> tuple[str, PrivateCluster | None]:
    """The configured database, or the private cluster of a re-rooted (dev) installation."""
    from deployd.daemon import database_conninfo
    from deployd.store.cluster import PrivateCluster

    cluster = None
    if not settings.database_url and settings.root is not None:
        cluster = PrivateCluster(settings.paths.pg_dir, run_as=settings.pg_user)
        if not cluster.initialised:
            raise _fail(f"no database yet in {settings.root}: run `deployd dev` once first")
    return database_conninfo(settings, cluster), cluster


async def _with_connection(settings: Settings, action):  # type: ignore[no-untyped-def]
    import psycopg
    from psycopg.rows import dict_row

    conninfo, cluster = _conninfo(settings)
    started = cluster.start() if cluster else False
    try:
        async with await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, row_factory=dict_row
        ) as conn:
            return await action(conn)
    finally:
        if started and cluster:
            cluster.stop()


@app.command()
def migrate(
    root: Annotated[Path | None, typer.Option(help="A re-rooted installation (dev).")] = None,
) -> None:
    """Apply pending database migrations."""
    from deployd.store import migrate as runner

    settings = load_settings(root=root.absolute() if root else None)

    async def action(conn):  # type: ignore[no-untyped-def]
        return await runner.migrate(conn, resource_dir("migrations"))

    try:
        applied = asyncio.run(_with_connection(settings, action))
    except expected() as exc:
        raise _fail(str(exc)) from None
    typer.echo("applied: " + ", ".join(applied) if applied else "the database is up to date")


@admin_app.command("create")
def admin_create(
    name: str,
    root: Annotated[Path | None, typer.Option(help="A re-rooted installation (dev).")] = None,
) -> None:
    """Create an admin with a generated password (printed once): the way back in."""
    import bcrypt
    import psycopg

    from deployd.engine import auditing
    from deployd.protocol.common import USER_NAME_PATTERN
    from deployd.store import users

    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise _fail(f"invalid user name {name!r}: use lowercase letters, digits, - and _")
    settings = load_settings(root=root.absolute() if root else None)
    seal = _audit_seal(settings)
    password = secrets.token_urlsafe(18)
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode()

    async def action(conn):  # type: ignore[no-untyped-def]
        from deployd.store import migrate as runner

        await runner.migrate(conn, resource_dir("migrations"))
        await auditing.open_log(conn, seal)
        async with conn.transaction():
            if await users.get(conn, name) is not None:
                await users.set_password(conn, name, digest)
                await users.set_role(conn, name, "admin")
                outcome = "reset"
            else:
                await users.insert(
                    conn, name=name, role="admin", password_hash=digest, unix_user=None
                )
                outcome = "created"
            row = await auditing.append(
                conn,
                seal,
                actor="deployd admin",
                peer_uid=os.getuid(),
                method="admin.create",
                target=name,
                outcome="ok",
                detail=outcome,
            )
        await auditing.anchor(conn, seal, row)
        return outcome

    try:
        outcome = asyncio.run(_with_connection(settings, action))
    except expected(psycopg.Error) as exc:
        raise _fail(str(exc).strip()) from None
    typer.echo(f"{outcome} admin {name} with password {password} (shown once)")


@keys_app.command("rotate")
def keys_rotate(
    root: Annotated[Path | None, typer.Option(help="A re-rooted installation (dev).")] = None,
) -> None:
    """Re-encrypt every secret under a new key and retire the old one. Safe while the daemon
    runs: it follows the key file, and apps keep running untouched."""
    import psycopg

    from deployd.engine import auditing, keys
    from deployd.vault.keyring import KeyRing, VaultKeyError

    settings = load_settings(root=root.absolute() if root else None)
    keyring = KeyRing(settings.key_file)
    seal = _audit_seal(settings)

    async def action(conn):  # type: ignore[no-untyped-def]
        await keys.open_vault(conn, keyring)
        await auditing.open_log(conn, seal)
        count = await keys.rotate(conn, keyring)
        await auditing.append(
            conn,
            seal,
            actor="deployd keys",
            peer_uid=os.getuid(),
            method="keys.rotate",
            target=None,
            outcome="ok",
            detail=f"{count} values re-encrypted",
        )
        return count

    try:
        count = asyncio.run(_with_connection(settings, action))
    except expected(VaultKeyError, psycopg.Error) as exc:
        raise _fail(str(exc).strip()) from None
    typer.echo(f"rotated the vault key in {keyring.path}: {count} values re-encrypted")


@app.command("update-finish", hidden=True)
def update_finish() -> None:
    """A self-update's last steps, started by the daemon through systemd-run: restart the
    service, check the new daemon, put the old version back if it is not healthy."""
    from deployd.upgrade.finish import Finisher
    from deployd.upgrade.layout import Installation

    settings = load_settings()
    finisher = Finisher(
        installation=Installation(settings.install_dir),
        record_file=settings.paths.data_dir / "update.json",
        unit=settings.service_unit,
        socket=settings.paths.socket,
        timeout=settings.update_check_timeout,
    )
    outcome = finisher.run()
    typer.echo(f"deployd self-update: {outcome.value}")


def _audit_seal(settings: Settings) -> AuditSeal:
    from deployd.vault.audit_seal import AuditSeal

    return AuditSeal(settings.audit_key_file, settings.audit_anchor_file)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
