"""`databases.*`: PostgreSQL databases for apps. Passwords are shown only by `reveal`
(deployers and admins, recorded in the audit log); a link is a config variable, so it is
masked, versioned and rolled back like any other."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from deployd.domain import databases as rules
from deployd.domain import series
from deployd.domain.errors import DomainError
from deployd.domain.lifecycle import JobKind
from deployd.domain.traffic import parse_since
from deployd.engine import appconfig, offsite
from deployd.engine import databases as engine
from deployd.postgres.server import ServerUnavailable, Usage
from deployd.postgres.tools import ToolFailed
from deployd.protocol.apps import JobInfo, RunEnded
from deployd.protocol.databases import (
    BackupInfo,
    DbBackupsResult,
    DbCreateParams,
    DbDropParams,
    DbDropResult,
    DbInfo,
    DbLink,
    DbLinkParams,
    DbLinkResult,
    DbListResult,
    DbMigrateParams,
    DbParams,
    DbPsqlStarted,
    DbRestoreParams,
    DbRestoreResult,
    DbScheduleParams,
    DbScheduleResult,
    DbShowParams,
    DbUnlinkParams,
    RemoteInfo,
    RemoteSetParams,
    SizeHistory,
    SizePoint,
)
from deployd.protocol.errors import RpcError, conflict, invalid, not_found, unavailable
from deployd.protocol.events import EventType
from deployd.remote.crypt import CryptError
from deployd.runtime.oneoff import Handoff, HandoffError, run_attached
from deployd.store import apps as app_store
from deployd.store import databases as store
from deployd.store import remote as remote_store
from deployd.store.databases import BackupRow, BackupStatus, BackupTrigger, DatabaseRow
from deployd.store.remote import CopyRow, CopyStatus
from deployd.unix.accounts import Account
from deployd.vault.keyring import VaultKeyError

from .core import Caller, Core
from .deploys import enqueue
from .env import change_config


def _translated(exc: BaseException) -> RpcError:
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, engine.NoSuchDatabase):
        return not_found(str(exc))
    if isinstance(exc, DomainError):
        return invalid(str(exc))
    if isinstance(exc, engine.DatabaseRefused | engine.RestoreFailed):
        return conflict(str(exc))
    if isinstance(exc, engine.BackupFailed):
        return conflict(f"backup {exc.backup} failed: {exc.reason}")
    if isinstance(exc, ServerUnavailable | ToolFailed | VaultKeyError):
        return unavailable(str(exc))
    if isinstance(exc, psycopg.Error):
        said = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return conflict(f"the apps' PostgreSQL refused: {said}")
    raise exc


async def _info(
    core: Core,
    row: DatabaseRow,
    links: list[store.LinkRow],
    usage: dict[str, Usage] | None,
    problem: str | None,
    last: dict[str, Any],
    *,
    reveal: bool = False,
) -> DbInfo:
    """`last`: when its last backup started and its last verified one ended."""
    now = datetime.now(UTC)
    host = port = password = url = None
    kept: list[str] = []
    if usage is not None:
        address = await core.platform.databases.address()
        host, port = address.host, address.port
        kept = [name for name in usage if name.startswith(f"{row.name}{rules.RESTORED_INFIX}")]
        if reveal:  # the password is decrypted only to be shown
            found = await engine.credentials(core.platform, row)
            password, url = found.password, found.url
    used = usage.get(row.name) if usage is not None else None
    verified = last.get("verified")
    return DbInfo(
        name=row.name,
        host=host,
        port=port,
        user=row.name,
        password=password,
        url=url,
        links=[DbLink(app=link.app, variable=link.variable) for link in links],
        size_bytes=used.size_bytes if used else None,
        connections=used.connections if used else None,
        created_at=row.created_at,
        schedule=row.schedule.describe() if row.schedule else None,
        keep=row.keep,
        last_backup_at=last.get("started"),
        last_verified_at=verified,
        backup_overdue=bool(
            row.schedule
            and row.schedule_set_at
            and rules.overdue(row.schedule, verified, row.schedule_set_at, now)
        ),
        migrated_at=row.migrated_at,
        migrate_app=row.migrate_app,
        migrate_status=row.migrate_status,
        migrate_output=row.migrate_output,
        kept=sorted(kept),
        reachable=usage is not None,
        problem=problem,
    )


async def _usage(core: Core) -> tuple[dict[str, Usage] | None, str | None]:
    """Sizes and connections, or why the apps' server cannot say."""
    try:
        return await core.platform.databases.usage(), None
    except ServerUnavailable as exc:
        return None, str(exc)


async def list_databases(core: Core, caller: Caller) -> DbListResult:
    async with core.pool.connection() as conn:
        rows = await store.list_all(conn)
        links = await store.links(conn)
    async with core.pool.connection() as conn:
        last = await store.last_backups(conn)
    usage, problem = await _usage(core) if rows else ({}, None)
    return DbListResult(
        databases=[
            await _info(
                core,
                row,
                [k for k in links if k.database == row.name],
                usage,
                problem,
                last.get(row.name, {}),
            )
            for row in rows
        ]
    )


async def _show(core: Core, params: DbShowParams, *, reveal: bool) -> DbInfo:
    try:
        since, until = parse_since(params.since, datetime.now(UTC))  # as `stats --since`
    except DomainError as exc:
        raise invalid(str(exc)) from None
    try:
        row = await engine.get(core.platform, params.name)
    except engine.NoSuchDatabase as exc:
        raise not_found(str(exc)) from None
    async with core.pool.connection() as conn:
        links = await store.links(conn, database=row.name)
        last = (await store.last_backups(conn)).get(row.name, {})
        # not the samples of an earlier database of the same name
        samples = await store.sizes(conn, row.name, max(since, row.created_at), until)
    usage, problem = await _usage(core)
    if reveal and usage is None:
        raise unavailable(problem or "the apps' PostgreSQL is unreachable")
    info = await _info(core, row, links, usage, problem, last, reveal=reveal)
    history = SizeHistory(
        since=since,
        until=until,
        points=[SizePoint(at=at, bytes=size) for at, size in series.downsample(samples)],
    )
    return info.model_copy(update={"size_history": history})


async def show(core: Core, caller: Caller, params: DbShowParams) -> DbInfo:
    return await _show(core, params, reveal=False)


async def reveal(core: Core, caller: Caller, params: DbShowParams) -> DbInfo:
    return await _show(core, params, reveal=True)


async def create(core: Core, caller: Caller, params: DbCreateParams) -> DbInfo:
    if params.app is not None:
        await _app_can_take(core, params.app, params.variable)
    try:
        row = await engine.create(core.platform, params.name, caller.name)
    except Exception as exc:
        raise _translated(exc) from None
    await core.bus.publish(
        EventType.DB_CREATED, f"database {row.name} created", app=None, actor=caller.name, data={}
    )
    job = None
    if params.app is not None:
        try:
            linked = await _link(core, caller, row, params.app, params.variable, restart=True)
        except RpcError as exc:
            raise RpcError(
                exc.kind,
                f"created {row.name}, but could not link it to {params.app}: {exc.message} "
                f"(`deployctl db link {row.name} {params.app}` once that is solved)",
                **exc.details,
            ) from None
        job = linked.job
    info = await _show(core, DbShowParams(name=row.name), reveal=False)
    return info.model_copy(update={"job": job})


async def _app_can_take(core: Core, app: str, variable: str) -> None:
    """The app exists, and the variable is free: a link never overwrites a value the user
    set (nor another link)."""
    try:
        rules.check_variable(variable)
    except DomainError as exc:
        raise invalid(str(exc)) from None
    async with core.pool.connection() as conn:
        if await app_store.get(conn, app) is None:
            raise not_found(f"no app named {app}")
    config = await appconfig.current(core.platform, app)
    if variable in config.values:
        raise conflict(
            f"{app} already has {variable} set: link with --as ANOTHER_NAME, or "
            f"`deployctl env unset {app} {variable}` first"
        )


async def _link(
    core: Core, caller: Caller, row: DatabaseRow, app: str, variable: str, *, restart: bool
) -> DbLinkResult:
    try:
        found = await engine.credentials(core.platform, row)
    except Exception as exc:
        raise _translated(exc) from None

    async def record(conn: Any) -> None:
        await store.link(conn, row.name, app, variable)

    async with engine.held(core.platform, row.name):  # not while it is being dropped
        await _existing(core, row.name)
        _, version, job = await change_config(
            core, caller, app, {variable: found.url}, [], restart=restart, also=record
        )
    await core.bus.publish(
        EventType.DB_LINKED,
        f"{row.name} linked to {app} as {variable}",
        app=app,
        actor=caller.name,
        data={"database": row.name, "variable": variable},
    )
    return DbLinkResult(
        database=row.name, app=app, variable=variable, config_version=version, job=job
    )


async def link(core: Core, caller: Caller, params: DbLinkParams) -> DbLinkResult:
    row = await _existing(core, params.database)
    async with core.pool.connection() as conn:
        if await store.links(conn, database=row.name, app=params.app):
            raise conflict(f"{row.name} is linked to {params.app} already")
    await _app_can_take(core, params.app, params.variable)
    return await _link(core, caller, row, params.app, params.variable, restart=params.restart)


async def unlink(core: Core, caller: Caller, params: DbUnlinkParams) -> DbLinkResult:
    row = await _existing(core, params.database)
    async with core.pool.connection() as conn:
        found = await store.links(conn, database=row.name, app=params.app)
    if not found:
        raise not_found(f"{row.name} is not linked to {params.app}")
    variable = found[0].variable

    async def forget(conn: Any) -> None:
        await store.unlink(conn, row.name, params.app)

    config = await appconfig.current(core.platform, params.app)
    if variable in config.values:
        _, version, job = await change_config(
            core, caller, params.app, {}, [variable], restart=params.restart, also=forget
        )
    else:  # unset by hand meanwhile: only the link is left to forget
        async with core.pool.connection() as conn:
            await forget(conn)
        version, job = config.version, None
    await core.bus.publish(
        EventType.DB_UNLINKED,
        f"{row.name} unlinked from {params.app} ({variable} unset)",
        app=params.app,
        actor=caller.name,
        data={"database": row.name, "variable": variable},
    )
    return DbLinkResult(
        database=row.name, app=params.app, variable=variable, config_version=version, job=job
    )


async def _existing(core: Core, name: str) -> DatabaseRow:
    try:
        return await engine.get(core.platform, name)
    except engine.NoSuchDatabase as exc:
        raise not_found(str(exc)) from None


def backup_info(row: BackupRow, copy: CopyRow | None = None) -> BackupInfo:
    copied = copy is not None and copy.status is CopyStatus.COPIED
    next_try = None  # a failed copy of a verified backup is tried again, a few times
    if (
        copy is not None
        and copy.status is CopyStatus.FAILED
        and row.status is BackupStatus.VERIFIED
    ):
        next_try = rules.copy_retry_at(copy.attempts, copy.finished_at or copy.started_at)
    return BackupInfo(
        id=row.id,
        database=row.database,
        status=row.status.value,
        trigger=row.trigger.value,
        started_at=row.started_at,
        finished_at=row.finished_at,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        tables=len(row.tables) if row.tables is not None else None,
        rows=sum(row.tables.values()) if row.tables is not None else None,
        error=row.error,
        location="local+remote" if copied else "local",
        remote=copy.status.value if copy is not None else None,
        remote_error=copy.error if copy is not None else None,
        remote_attempts=copy.attempts if copy is not None else None,
        remote_attempts_max=rules.COPY_ATTEMPTS if copy is not None else None,
        remote_next_try_at=next_try,
    )


async def _with_copies(core: Core, rows: list[BackupRow]) -> list[BackupInfo]:
    async with core.pool.connection() as conn:
        found = await remote_store.copies(conn, [r.id for r in rows])
    return [backup_info(r, found.get(r.id)) for r in rows]


async def drop(core: Core, caller: Caller, params: DbDropParams) -> DbDropResult:
    await _existing(core, params.name)
    try:
        if params.kept_only:
            gone = await engine.drop_kept(core.platform, params.name)
            return DbDropResult(name=params.name, final_backup=None, dropped=gone)
        kept = await core.platform.databases.kept_copies(params.name)
        final = await engine.drop(core.platform, params.name, caller.name)
    except Exception as exc:
        raise _translated(exc) from None
    said = f"; its final backup is {final.id}" if final else " (it had never been made)"
    await core.bus.publish(
        EventType.DB_DROPPED,
        f"database {params.name} dropped{said}",
        app=None,
        actor=caller.name,
        data={"backup": final.id if final else None, "kept_copies": kept},
    )
    return DbDropResult(
        name=params.name,
        final_backup=(await _with_copies(core, [final]))[0] if final else None,
        dropped=[params.name, *kept],
    )


async def backup(core: Core, caller: Caller, params: DbParams) -> BackupInfo:
    await _existing(core, params.name)
    try:
        done = await engine.backup(core.platform, params.name, BackupTrigger.MANUAL, caller.name)
    except Exception as exc:
        raise _translated(exc) from None
    return (await _with_copies(core, [done]))[0]


async def backups(core: Core, caller: Caller, params: DbParams) -> DbBackupsResult:
    async with core.pool.connection() as conn:
        rows = await store.backups(conn, params.name)
        known = await store.get(conn, params.name)
    if known is None and not rows:
        raise not_found(f"no database named {params.name}")
    return DbBackupsResult(database=params.name, backups=await _with_copies(core, rows))


async def schedule(core: Core, caller: Caller, params: DbScheduleParams) -> DbScheduleResult:
    await _existing(core, params.name)
    try:
        wanted = rules.parse_schedule(params.schedule, keep=params.keep)
    except DomainError as exc:
        raise invalid(str(exc)) from None
    async with core.pool.connection() as conn:
        await store.set_schedule(conn, params.name, wanted)
    return DbScheduleResult(
        name=params.name,
        schedule=wanted.describe() if wanted else None,
        next_run_at=wanted.next_run(datetime.now(UTC)) if wanted else None,
    )


async def restore(core: Core, caller: Caller, params: DbRestoreParams) -> DbRestoreResult:
    if params.into is None:
        await _existing(core, params.name)
    try:
        done = await engine.restore(
            core.platform, params.name, params.backup, caller.name, into=params.into
        )
    except Exception as exc:
        raise _translated(exc) from None
    where = f"into {done.database}" if params.into else f"in {done.database}'s place"
    await core.bus.publish(
        EventType.DB_RESTORED,
        f"backup {done.backup} restored {where}: {done.tables} tables, {done.rows} rows, checked",
        app=None,
        actor=caller.name,
        data={"backup": done.backup, "database": done.database, "kept": done.kept},
    )
    return DbRestoreResult(
        database=done.database,
        backup=done.backup,
        tables=done.tables,
        rows=done.rows,
        kept=done.kept,
    )


async def psql(
    core: Core, caller: Caller, params: DbParams
) -> tuple[DbPsqlStarted, AsyncIterator[RunEnded]]:
    """psql as the database's role, on the caller's terminal (handed over as `run`
    does), as an account of deployd's own for it (never an app's: the app's processes
    could reach the terminal). The password reaches psql through a pipe it reads as its
    password file, never its environment or command line."""
    platform = core.platform
    row = await _existing(core, params.name)
    try:
        found = await engine.credentials(platform, row)
    except Exception as exc:
        raise _translated(exc) from None
    account = await platform.accounts.psql()
    argv = platform.db_tools.psql(found.host, found.port, row.name)
    caller.audit_detail = f"psql as {row.name} (Unix account {account.name})"
    handoff = Handoff.open(platform.paths.socket.parent / "handoff", caller.peer_uid)

    async def ended() -> AsyncIterator[RunEnded]:
        passfile = _passfile(found, account)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/",
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "PSQL_HISTORY": "/dev/null",
            "PGPASSFILE": f"/dev/fd/{passfile}",
        }
        try:
            conn, fds = await asyncio.to_thread(handoff.accept)
            status = await asyncio.to_thread(
                run_attached,
                argv,
                cwd=Path("/"),
                env=env,
                fds=fds,
                control=conn,
                popen_kwargs={**account.popen_kwargs(), "pass_fds": (passfile,)},
            )
        except HandoffError as exc:
            yield RunEnded(status=None, error=str(exc))
            return
        except OSError as exc:
            yield RunEnded(status=None, error=f"could not start psql: {exc.strerror}")
            return
        finally:
            os.close(passfile)
            handoff.close()
        yield RunEnded(status=status)

    started = DbPsqlStarted(database=row.name, user=account.name, handoff=str(handoff.path))
    return started, ended()


def _passfile(found: engine.Credentials, account: Account) -> int:
    """An unnamed file of the account's own (0600, no path anyone can open) holding
    libpq's password-file line for the role; returns its descriptor, which psql opens as
    /dev/fd/N. libpq reads only plain files, so not a pipe."""
    fd = os.open(tempfile.gettempdir(), os.O_TMPFILE | os.O_RDWR, 0o600)
    try:
        if account.switch:
            os.fchown(fd, account.uid, account.gid)
        escaped = found.password.replace("\\", "\\\\").replace(":", "\\:")
        line = f"{found.host}:{found.port}:{found.name}:{found.name}:{escaped}\n"
        os.write(fd, line.encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


async def remote_show(core: Core, caller: Caller) -> RemoteInfo:
    return await _remote_info(core, identity=None)


async def _remote_info(core: Core, identity: str | None) -> RemoteInfo:
    settings = core.settings
    async with core.pool.connection() as conn:
        row = await remote_store.storage(conn)
    return RemoteInfo(
        endpoint=settings.backup_s3_endpoint,
        bucket=settings.backup_s3_bucket,
        prefix=settings.backup_s3_prefix,
        access_key_id=row.access_key_id if row else None,
        recipient=row.recipient if row else None,
        identity=identity,
        ready=bool(row and settings.backup_s3_endpoint and settings.backup_s3_bucket),
    )


async def remote_set(core: Core, caller: Caller, params: RemoteSetParams) -> RemoteInfo:
    try:
        done = await offsite.set_keys(
            core.platform, params.access_key_id, params.secret_access_key, caller.name
        )
    except CryptError as exc:
        raise unavailable(str(exc)) from None
    await core.bus.publish(
        EventType.DB_REMOTE_SET,
        "remote storage keys set"
        + ("; a new age key pair encrypts the copies" if done.identity else ""),
        app=None,
        actor=caller.name,
        data={"recipient": done.recipient},
    )
    return await _remote_info(core, identity=done.identity)


async def migrate(core: Core, caller: Caller, params: DbMigrateParams) -> JobInfo:
    """A job, followed like a deploy: the live release's `release:` command."""
    async with core.pool.connection() as conn:
        if await app_store.get(conn, params.app) is None:
            raise not_found(f"no app named {params.app}")
        if await app_store.live(conn, params.app) is None:
            raise conflict(f"{params.app} has no live release to run the release command of")
    return await enqueue(core, caller, params.app, JobKind.MIGRATE, {})
