"""`apps.*`: create, list, show and delete apps."""

from __future__ import annotations

import asyncio
import logging
import shutil

from deployd.domain import apps as rules
from deployd.domain.errors import DomainError
from deployd.domain.ports import pick_ports
from deployd.domain.sources import SourceError
from deployd.engine import building, pipeline, sites, slots
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
from deployd.proxy.nginx import ProxyError
from deployd.runtime.ports import is_free
from deployd.sources import git, local
from deployd.store import apps as store
from deployd.store import domains as domain_store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store.apps import AppRow, SlotRow
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


async def _check_readable(core: Core, caller: Caller, kind: str, source: str) -> int | None:
    """A local source must be readable by the Unix user who names it (it will be read as
    them at every deploy): returns their uid, None for a network source."""
    if kind == "git" and not git.is_local(source):
        return None
    try:
        reader = core.platform.accounts.caller(caller.peer_uid)
        if kind == "path":
            await local.check_readable(source, reader)
        else:
            await git.check_readable(source, reader)
    except AccountError as exc:
        raise forbidden(f"cannot read a local source for you: {exc}") from None
    except (SourceError, git.GitError) as exc:
        raise invalid(str(exc)) from None
    return caller.peer_uid


async def create(core: Core, caller: Caller, params: AppsCreateParams) -> AppInfo:
    kind, source = _check_source(params)
    await _check_runtime(core, params.runtime)
    await _check_address(core, params.name)
    reader_uid = await _check_readable(core, caller, kind, source)
    async with core.pool.connection() as conn:
        if await store.get(conn, params.name) is not None:
            raise conflict(f"app {params.name} already exists")
    try:
        account = await core.platform.accounts.prepare(params.name)
    except (AccountError, OSError) as exc:
        raise unavailable(f"cannot make the app's account: {exc}") from None
    async with core.pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE slots IN EXCLUSIVE MODE")  # one port allocation at a time
        if await store.get(conn, params.name) is not None:
            raise conflict(f"app {params.name} already exists")
        try:
            ports = pick_ports(core.platform.ports, await store.all_ports(conn), is_free)
        except DomainError as exc:
            raise conflict(str(exc)) from None
        app = await store.insert(
            conn,
            name=params.name,
            source_kind=kind,
            source=source,
            branch=params.branch,
            runtime=params.runtime,
            ports=ports,
            source_uid=reader_uid,
        )
        slot_rows = await store.slots(conn, params.name)
    try:
        await sites.open_site(core.platform, params.name)
    except ProxyError as exc:  # the reconciler tries again; the app exists all the same
        log.error("could not write %s's nginx site: %s", params.name, exc)
    await core.bus.publish(
        EventType.APP_CREATED,
        f"{caller.name} created {params.name} from {source}",
        app=params.name,
        actor=caller.name,
        data={"source": source, "ports": ports, "account": account.name},
    )
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


async def _rest(core: Core, row: SlotRow) -> None:
    """Stop a slot through the table (so its end is no crash to the supervisor), looking
    again if the supervisor moves it meanwhile; a container may have no pid."""
    for _ in range(5):
        try:
            await slots.rest(core.platform, row.app, row)
            break
        except slots.StaleSlot:
            row = (await slots.load(core.platform, row.app))[row.name]
    await slots.stop_process(core.platform, row)


async def delete(core: Core, caller: Caller, params: AppParams) -> AppsDeleteResult:
    async with core.platform.lock(params.name):
        _, slot_rows, job, _ = await _get(core, params.name)
        if job is not None:
            raise conflict(f"{params.name} has job {job} under way: wait for it, then delete")
        drain = core.platform.drains.pop(params.name, None)
        if drain is not None:
            drain.cancel()
        stopped = 0
        for row in slot_rows:
            stopped += row.pid is not None
            await _rest(core, row)
        await asyncio.to_thread(core.platform.nginx.apply, params.name, None)
        core.platform.nginx.forget(params.name)
        async with core.pool.connection() as conn:
            releases = await release_store.for_app(conn, params.name, limit=100_000)
        for key in {r.build_key for r in releases if r.build_key}:
            tags = [r.version for r in releases if r.build_key == key]
            artifact = building.artifact_dir(core.platform, params.name, key)
            await pipeline.remove_build(core.platform, params.name, artifact, tags)
        if core.platform.systemd_host:
            await asyncio.to_thread(core.platform.systemd.forget, params.name)
        async with core.pool.connection() as conn:
            await store.delete(conn, params.name)
        for directory in (
            core.platform.paths.app_dir(params.name),
            core.platform.paths.app_logs(params.name),
        ):
            await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)
        try:  # last: whatever the app left running is stopped with its account
            await core.platform.accounts.remove(params.name)
        except AccountError as exc:
            log.warning("could not remove %s's account: %s", params.name, exc)
    await core.bus.publish(
        EventType.APP_DELETED,
        f"{caller.name} deleted {params.name}",
        app=params.name,
        actor=caller.name,
        data={"stopped_slots": stopped},
    )
    core.platform.masks.drop(params.name)
    return AppsDeleteResult(name=params.name, stopped_slots=stopped)
