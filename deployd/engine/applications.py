"""Making and removing an app: its account, ports, slots, site, and everything it leaves.

Services call these for people (`apps create`, `apps delete`); the GitHub worker calls them
for preview apps, which nobody creates or deletes by hand.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from deployd.domain.errors import DomainError
from deployd.domain.ports import pick_ports
from deployd.protocol.events import EventType
from deployd.proxy.nginx import ProxyError
from deployd.runtime.ports import is_free
from deployd.store import apps as store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store.apps import AppRow, SlotRow
from deployd.unix.accounts import AccountError

from . import building, pipeline, sites, slots
from .platform import Platform

log = logging.getLogger(__name__)


class AppExists(Exception):
    pass


class NoPorts(Exception):
    pass


class CannotPrepare(Exception):
    """The app's account or directories could not be made."""


class AppBusy(Exception):
    def __init__(self, job: int) -> None:
        super().__init__(f"job {job} is under way")
        self.job = job


async def create(
    platform: Platform,
    *,
    name: str,
    source_kind: str,
    source: str,
    branch: str | None,
    runtime: str,
    source_uid: int | None,
    actor: str,
) -> tuple[AppRow, list[SlotRow]]:
    """A new app with its account, two slots on free ports and its nginx site."""
    async with platform.pool.connection() as conn:
        if await store.get(conn, name) is not None:
            raise AppExists(f"app {name} already exists")
    try:
        account = await platform.accounts.prepare(name)
    except (AccountError, OSError) as exc:
        raise CannotPrepare(f"cannot make the app's account: {exc}") from None
    async with platform.pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE slots IN EXCLUSIVE MODE")  # one port allocation at a time
        if await store.get(conn, name) is not None:
            raise AppExists(f"app {name} already exists")
        try:
            ports = pick_ports(platform.ports, await store.all_ports(conn), is_free)
        except DomainError as exc:
            raise NoPorts(str(exc)) from None
        app = await store.insert(
            conn,
            name=name,
            source_kind=source_kind,
            source=source,
            branch=branch,
            runtime=runtime,
            ports=ports,
            source_uid=source_uid,
        )
        slot_rows = await store.slots(conn, name)
    try:
        await sites.open_site(platform, name)
    except ProxyError as exc:  # the reconciler tries again; the app exists all the same
        log.error("could not write %s's nginx site: %s", name, exc)
    await platform.bus.publish(
        EventType.APP_CREATED,
        f"{actor} created {name} from {source}",
        app=name,
        actor=actor,
        data={"source": source, "ports": ports, "account": account.name},
    )
    return app, slot_rows


async def _rest(platform: Platform, row: SlotRow) -> None:
    """Stop a slot through the table (so its end is no crash to the supervisor), looking
    again if the supervisor moves it meanwhile; a container may have no pid."""
    for _ in range(5):
        try:
            await slots.rest(platform, row.app, row)
            break
        except slots.StaleSlot:
            row = (await slots.load(platform, row.app))[row.name]
    await slots.stop_process(platform, row)


async def delete(platform: Platform, name: str, actor: str) -> int:
    """Stop the app and remove everything it made: slots, site, builds and images, its
    rows, files and account. Returns how many slots were running."""
    async with platform.lock(name):
        async with platform.pool.connection() as conn:
            if await store.get(conn, name) is None:
                raise LookupError(f"no app named {name}")
            job = await job_store.active(conn, name)
            slot_rows = await store.slots(conn, name)
        if job is not None:
            raise AppBusy(job.id)
        drain = platform.drains.pop(name, None)
        if drain is not None:
            drain.cancel()
        stopped = 0
        for row in slot_rows:
            stopped += row.pid is not None
            await _rest(platform, row)
        await asyncio.to_thread(platform.nginx.apply, name, None)
        platform.nginx.forget(name)
        async with platform.pool.connection() as conn:
            releases = await release_store.for_app(conn, name, limit=100_000)
        for key in {r.build_key for r in releases if r.build_key}:
            tags = [r.version for r in releases if r.build_key == key]
            artifact = building.artifact_dir(platform, name, key)
            await pipeline.remove_build(platform, name, artifact, tags)
        if platform.systemd_host:
            await asyncio.to_thread(platform.systemd.forget, name)
        async with platform.pool.connection() as conn:
            await store.delete(conn, name)
        for directory in (
            platform.paths.app_dir(name),
            platform.paths.app_logs(name),
            building.github_mirror(platform, name),
        ):
            await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)
        try:  # last: whatever the app left running is stopped with its account
            await platform.accounts.remove(name)
        except AccountError as exc:
            log.warning("could not remove %s's account: %s", name, exc)
    await platform.bus.publish(
        EventType.APP_DELETED,
        f"{actor} deleted {name}",
        app=name,
        actor=actor,
        data={"stopped_slots": stopped},
    )
    platform.masks.drop(name)
    return stopped
