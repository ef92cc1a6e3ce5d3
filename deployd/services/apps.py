"""`apps.*`: create, list, show and delete apps."""

from __future__ import annotations

import asyncio
import logging

from deployd.domain import apps as rules
from deployd.domain.errors import DomainError
from deployd.domain.sources import SourceError
from deployd.engine import applications, github_connect
from deployd.protocol.apps import (
    AppInfo,
    AppParams,
    AppsCreateParams,
    AppsDeleteResult,
    AppsListResult,
    AppsSetParams,
    SlotInfo,
)
from deployd.protocol.errors import conflict, forbidden, invalid, not_found, unavailable
from deployd.protocol.events import EventType
from deployd.sources import git, local
from deployd.sources.github import GitHubError
from deployd.store import apps as store
from deployd.store import domains as domain_store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store import users as user_store
from deployd.store.apps import AppRow, SlotRow
from deployd.unix import accounts
from deployd.unix.accounts import AccountError

from .core import Caller, Core

log = logging.getLogger(__name__)


def _info(
    core: Core,
    app: AppRow,
    slot_rows: list[SlotRow],
    active_job: int | None,
    latest: tuple[int, str] | None = None,
) -> AppInfo:
    live = next((s for s in slot_rows if s.name == app.live_slot), None)
    return AppInfo(
        name=app.name,
        source_kind=app.source_kind,
        source=app.source,
        branch=app.branch,
        runtime=app.runtime,
        live_slot=app.live_slot,
        live_release=live.release if live else None,
        url=core.platform.url(app.name),
        created_at=app.created_at,
        active_job=active_job,
        latest_release=latest[0] if latest else None,
        latest_status=latest[1] if latest else None,
        slots=[
            SlotInfo(
                name=s.name,
                port=s.port,
                state=s.state,
                release=s.release,
                pid=s.pid,
                runtime=s.runtime,
            )
            for s in slot_rows
        ],
    )


def _check_source(params: AppsCreateParams) -> tuple[str, str]:
    try:
        rules.check_app_name(params.name)
        if params.git is not None:
            rules.check_git_url(params.git)
            if params.branch is not None:
                rules.check_ref(params.branch)
            return "git", params.git
        assert params.path is not None
        rules.check_source_path(params.path)
        return "path", params.path
    except DomainError as exc:
        raise invalid(str(exc)) from None


PEERS = ("peer", "group", "daemon")
"""How a caller is known when the Unix user on the socket is who calls (or the daemon
itself, deploying `deployd dev`'s example as its own user): not through a token."""


async def _reader_uid(core: Core, caller: Caller) -> int | None:
    """Whose rights a local source is read with: the Unix user on the socket when that is
    who calls; for a token (the web GUI, a session) the Unix account the deployd user is
    mapped to, never the connection's (that is the web process's, root in dev)."""
    if caller.identity.via in PEERS:
        return caller.peer_uid
    async with core.pool.connection() as conn:
        row = await user_store.get(conn, caller.identity.user)
    mapped = row["unix_user"] if row is not None else None
    found = accounts.lookup(mapped) if mapped else None
    if found is None:
        raise forbidden(
            f"a directory or a git repository on this server is read with the rights of "
            f"whoever names it, and {caller.identity.user} has no Unix account here (an "
            f"admin maps one when adding a user: `deployctl users add NAME --unix-user "
            f"ACCOUNT`): give a git URL to fetch instead, or name it with deployctl on the "
            f"server as yourself"
        )
    return found.uid


async def _check_readable(core: Core, caller: Caller, kind: str, source: str) -> int | None:
    """A local source must be readable by the Unix user who names it (it will be read as
    them at every deploy): returns their uid, None for a network source."""
    if kind == "git" and not git.is_local(source):
        return None
    uid = await _reader_uid(core, caller)
    try:
        reader = core.platform.accounts.caller(uid)
        if kind == "path":
            await local.check_readable(source, reader)
        else:
            await git.check_readable(source, reader)
    except AccountError as exc:
        raise forbidden(f"cannot read a local source for you: {exc}") from None
    except (SourceError, git.GitError) as exc:
        raise invalid(str(exc)) from None
    return uid


async def create(core: Core, caller: Caller, params: AppsCreateParams) -> AppInfo:
    kind, source = _check_source(params)
    await _check_runtime(core, params.runtime)
    await _check_address(core, params.name)
    reader_uid = await _check_readable(core, caller, kind, source)
    try:
        app, slot_rows = await applications.create(
            core.platform,
            name=params.name,
            source_kind=kind,
            source=source,
            branch=params.branch,
            runtime=params.runtime,
            source_uid=reader_uid,
            actor=caller.name,
        )
    except (applications.AppExists, applications.NoPorts) as exc:
        raise conflict(str(exc)) from None
    except applications.CannotPrepare as exc:
        raise unavailable(str(exc)) from None
    return _info(core, app, slot_rows, None)


async def _check_address(core: Core, name: str) -> None:
    """`<name>.<base domain>` is the new app's own address: refused while another app has
    it attached (an older deployd allowed that)."""
    hostname = core.platform.hostname(name)
    async with core.pool.connection() as conn:
        attached = await domain_store.get(conn, hostname)
    if attached is not None and attached["app"] != name:
        raise conflict(
            f"{hostname}, this app's address, is attached to app {attached['app']}: detach it"
        )


async def list_apps(core: Core, caller: Caller) -> AppsListResult:
    async with core.pool.connection() as conn:
        apps = await store.list_all(conn)
        all_slots = await store.all_slots(conn)
        jobs = await job_store.active_by_app(conn)
        latest = await release_store.latest(conn)
    by_app: dict[str, list[SlotRow]] = {}
    for row in all_slots:
        by_app.setdefault(row.app, []).append(row)
    return AppsListResult(
        apps=[
            _info(core, a, by_app.get(a.name, []), jobs.get(a.name), latest.get(a.name))
            for a in apps
        ]
    )


async def _get(
    core: Core, name: str
) -> tuple[AppRow, list[SlotRow], int | None, tuple[int, str] | None]:
    async with core.pool.connection() as conn:
        app = await store.get(conn, name)
        if app is None:
            raise not_found(f"no app named {name}")
        job = await job_store.active(conn, name)
        latest = (await release_store.latest(conn, name)).get(name)
        return app, await store.slots(conn, name), job.id if job else None, latest


async def _check_runtime(core: Core, runtime: str) -> None:
    """Refuse at once what could never deploy here (an `auto` app is decided per deploy)."""
    platform = core.platform
    if runtime == "docker" and not await asyncio.to_thread(platform.docker.engine_up):
        raise unavailable("the Docker Engine is not running here (see `deployctl status`)")
    if runtime == "systemd" and not platform.systemd_host:
        raise invalid("the systemd runtime needs systemd as PID 1 (and a daemon that is not dev)")


async def set_runtime(core: Core, caller: Caller, params: AppsSetParams) -> AppInfo:
    await _check_runtime(core, params.runtime)
    async with core.pool.connection() as conn:
        if await store.get(conn, params.name) is None:
            raise not_found(f"no app named {params.name}")
        await store.set_runtime(conn, params.name, params.runtime)
    await core.bus.publish(
        EventType.APP_RUNTIME,
        f"{caller.name} set {params.name}'s runtime to {params.runtime} (from its next deploy)",
        app=params.name,
        actor=caller.name,
        data={"runtime": params.runtime},
    )
    return _info(core, *await _get(core, params.name))


async def show(core: Core, caller: Caller, params: AppParams) -> AppInfo:
    return _info(core, *await _get(core, params.name))


async def delete(core: Core, caller: Caller, params: AppParams) -> AppsDeleteResult:
    _, _, job, _ = await _get(core, params.name)
    if job is not None:  # before anything goes, its webhook included
        raise conflict(f"{params.name} has job {job} under way: wait for it, then delete")
    try:  # an app that follows GitHub stops first: its webhook and previews go too
        await github_connect.disconnect(core.platform, params.name, caller.name)
    except LookupError:
        pass
    except GitHubError as exc:
        log.warning("deleting %s: its webhook on GitHub stays (%s)", params.name, exc)
    try:
        stopped = await applications.delete(core.platform, params.name, caller.name)
    except LookupError:
        raise not_found(f"no app named {params.name}") from None
    except applications.AppBusy as busy:
        raise conflict(
            f"{params.name} has job {busy.job} under way: wait for it, then delete"
        ) from None
    return AppsDeleteResult(name=params.name, stopped_slots=stopped)
