"""The reconciler: level-triggered, idempotent, and it reads everything before it acts.

At daemon start it finishes or aborts the jobs a previous daemon left running; then, at
start and every few seconds, it compares what the store says with what runs:

- a job left mid-way: if nginx's switch already points at the job's new slot and release
  and that process runs, the switch had happened (flipping the switch is the commit
  point), so it is completed: store, slots and job are brought in line. Otherwise it is
  aborted: the new slot is stopped and the switch put back where the store says.
- slots starting or healthy with no job behind them, and draining ones nobody drains,
  are stopped; a process recorded in a slot's pid file while the slot says it has none is
  an orphan and is stopped too;
- every app's nginx site and switch must be what the store implies; a site that differs is
  rendered again (through `nginx -t`), a switch that points elsewhere is flipped back, and
  the sites of apps that no longer exist are removed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from deployd.domain.apps import APP_NAME
from deployd.domain.lifecycle import JobKind, ReleaseStatus
from deployd.domain.slots import RUNNING, SLOT_NAMES, SlotEvent, SlotState
from deployd.engine import appconfig, slots
from deployd.engine.platform import Platform
from deployd.engine.sites import site_of
from deployd.protocol.events import EventType
from deployd.proxy.nginx import Live, ProxyError
from deployd.runtime.base import read_pid_file
from deployd.runtime.docker import ENGINE_ERRORS, DockerUnavailable
from deployd.store import apps as app_store
from deployd.store import domains as domain_store
from deployd.store import env as env_store
from deployd.store import jobs as job_store
from deployd.store import processes as process_store
from deployd.store import releases as release_store
from deployd.store.apps import AppRow, SlotRow
from deployd.store.db import Row
from deployd.store.jobs import JobRow

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


@dataclass
class World:
    """Everything the reconciler decides from, read at one moment."""

    apps: dict[str, AppRow]
    slots: dict[str, dict[str, SlotRow]]
    active_jobs: dict[str, JobRow]
    sites: dict[str, str]
    domains: dict[str, list[Row]]
    ports: dict[str, dict[str, list[int]]]
    """Per app, per slot: its web ports."""


def _made_its_release(job: JobRow) -> bool:
    """Deploys and config changes make a new release; a plain rollback re-uses one."""
    return job.kind != "rollback" or bool(job.params.get("keep_env"))


class Reconciler:
    def __init__(self, platform: Platform, owned_jobs: set[int]) -> None:
        self.platform = platform
        self.owned_jobs = owned_jobs
        """Ids of the jobs this daemon is running right now: never touched."""

    async def read(self, only: str | None = None) -> World:
        """Everything (or everything about one app) as it is now."""
        async with self.platform.pool.connection() as conn:
            apps = {
                a.name: a for a in await app_store.list_all(conn) if only is None or a.name == only
            }
            by_app: dict[str, dict[str, SlotRow]] = {}
            for row in await app_store.all_slots(conn):
                if row.app in apps:
                    by_app.setdefault(row.app, {})[row.name] = row
            active = {}
            domains = {}
            ports: dict[str, dict[str, list[int]]] = {}
            for name in apps:
                job = await job_store.active(conn, name)
                if job is not None:
                    active[name] = job
                domains[name] = await domain_store.for_app(conn, name)
                ports[name] = {
                    slot: await process_store.web_ports(conn, name, slot) for slot in SLOT_NAMES
                }
        sites = {}
        for path in self.platform.nginx.sites_dir.glob("deployd-*.conf"):
            name = path.name.removeprefix("deployd-").removesuffix(".conf")
            if only is None or name == only:
                sites[name] = path.read_text()
        return World(apps, by_app, active, sites, domains, ports)

    async def recover_jobs(self) -> None:
        """Daemon start: finish or abort every job a previous daemon left running."""
        world = await self.read()
        for app, job in world.active_jobs.items():
            if job.state == "running" and job.id not in self.owned_jobs:
                await self._recover(world, app, job)

    async def _recover(self, world: World, app: str, job: JobRow) -> None:
        platform = self.platform
        target = next(
            (
                s
                for s in world.slots[app].values()
                if s.release_id == job.release_id
                and s.state in RUNNING
                and s.name != world.apps[app].live_slot
            ),
            None,
        )
        switched = platform.nginx.live(app)
        handle = slots.handle_of(target) if target else None
        if (
            target is not None
            and switched is not None
            and (switched.slot, switched.release) == (target.name, target.release)
            and handle is not None
            and platform.runtime.alive(handle)
        ):
            await self._complete(world, app, job, target)
            return
        if target is not None:
            await slots.rest(platform, app, target)
        reason = f"interrupted by a daemon restart during {job.step or 'start'}; aborted"
        async with platform.pool.connection() as conn:
            await job_store.finish(conn, job.id, error=reason)
            if _made_its_release(job) and job.release_id:
                await release_store.update(
                    conn,
                    job.release_id,
                    status=ReleaseStatus.FAILED,
                    error=reason,
                    failed_step=job.step or "start",
                )
        await platform.emit(EventType.DEPLOY_FAILED, reason, app, job=job.id)

    async def _complete(self, world: World, app: str, job: JobRow, target: SlotRow) -> None:
        """The new slot was switched to before the daemon died: record that it is live."""
        platform, release_id = self.platform, target.release_id
        if release_id is None:
            return
        if target.state == SlotState.STARTING:
            target = await slots.transition(platform, app, target, SlotEvent.PASSED)
        if target.state == SlotState.HEALTHY:
            target = await slots.transition(platform, app, target, SlotEvent.PROMOTE)
        old_name = world.apps[app].live_slot
        async with platform.pool.connection() as conn, conn.transaction():
            await app_store.set_live_slot(conn, app, target.name)
            await release_store.mark_live(conn, app, release_id)
            if job.kind == JobKind.ROLLBACK:  # a rollback brings its release's config back
                release = await release_store.get(conn, release_id)
                await env_store.set_current(conn, app, release.env_version if release else None)
        if job.kind == JobKind.ROLLBACK:
            await appconfig.refresh_masks(platform, app)
        if old_name is not None:
            await slots.rest(platform, app, (await slots.load(platform, app))[old_name])
        async with platform.pool.connection() as conn:
            await job_store.finish(conn, job.id, error=None)
        await platform.emit(
            EventType.DEPLOY_SUCCEEDED,
            f"v{target.release} was switched to before a daemon restart; completed",
            app,
            job=job.id,
        )

    async def pass_once(self) -> None:
        """One comparison of the whole world with the store, acting on what differs.

        Each app is looked at again, and acted on, under its lock: a job, a deletion or
        this pass, never two of them at once on one app.
        """
        world = await self.read()
        containers = await self._containers()
        for app in sorted(set(world.apps) | set(world.sites) | {a for a, _, _ in containers}):
            lock = self.platform.lock(app)
            if lock.locked():
                continue  # a job or a deletion is at work on it
            async with lock:
                view = await self.read(only=app)
                if app in view.active_jobs or app in self.platform.drains:
                    continue
                for row in view.slots.get(app, {}).values():
                    await self._settle_slot(app, row)
                if app in view.apps:
                    await self._formation(app, view.apps[app])
                await self._stray_containers(app, view, containers)
                await self._site(await self.read(only=app), app)

    async def _settle_slot(self, app: str, row: SlotRow) -> None:
        platform = self.platform
        state = row.state
        try:
            if (
                state in (SlotState.STARTING, SlotState.HEALTHY) and row.next_restart_at is None
            ) or state is SlotState.DRAINING:
                await slots.rest(platform, app, row)
            elif state not in RUNNING and state is not SlotState.SUSPENDED:
                found = [read_pid_file(p) for p in slots.pid_files(platform, app, row.name)]
                orphans = [h for h in found if h is not None and platform.runtime.alive(h)]
                if orphans:
                    log.warning(
                        "stopping %d orphan processes of %s/%s", len(orphans), app, row.name
                    )
                if any(h is not None for h in found):
                    await slots.stop_process(platform, row)
        except slots.StaleSlot:
            pass  # it moved while we looked: the next pass sees the new state

    async def _formation(self, app: str, row: AppRow) -> None:
        """The live slot runs what the app's formation says and no more: processes beyond
        it (a scale or a restart the daemon died in) are stopped; a stopped app's are
        suspended (a `stop` the daemon died in)."""
        platform = self.platform
        async with platform.pool.connection() as conn:
            live = await app_store.live(conn, app)
        if live is None or live.slot.state is not SlotState.LIVE:
            return
        try:
            if row.stopped:
                await slots.transition(platform, app, live.slot, SlotEvent.SUSPEND)
                return
        except slots.StaleSlot:
            return
        async with platform.pool.connection() as conn:
            running = await process_store.of_slot(conn, app, live.slot.name)
        release = live.release
        if release.manifest is None:
            return
        counted = await slots.counts(platform, app, release.built_manifest())
        for proc in running:
            if proc.name.index > counted.get(proc.name.type, 0):
                log.warning("stopping %s of %s: its formation does not want it", proc.name, app)
                await slots.stop_one(platform, live.slot, proc)

    async def _containers(self) -> set[tuple[str, str, str]]:
        """(app, slot, container name) of every container of ours; none when there is no
        Docker Engine."""
        try:
            found = await asyncio.to_thread(self.platform.docker.containers)
        except (DockerUnavailable, *ENGINE_ERRORS):
            return set()
        # labels are anyone's with access to the Engine: only well-formed names are used
        return {(a, s, name) for a, s, name in found if APP_NAME.fullmatch(a) and s in SLOT_NAMES}

    async def _stray_containers(
        self, app: str, view: World, containers: set[tuple[str, str, str]]
    ) -> None:
        """A container no slot runs (its daemon died between starting it and its launcher,
        or its app was deleted meanwhile) is removed."""
        for owner, slot, name in containers:
            row = view.slots.get(app, {}).get(slot)
            if owner != app or (row is not None and row.state in RUNNING):
                continue
            log.warning("removing a container no slot runs: %s", name)
            await asyncio.to_thread(self.platform.docker.remove, name)

    async def _site(self, world: World, app: str) -> None:
        nginx = self.platform.nginx
        row = world.apps.get(app)
        if row is None:  # the site of an app that no longer exists
            if app in world.sites:
                await self._apply(app, None)
            nginx.forget(app)
            return
        by_name = world.slots.get(app, {})
        live = by_name.get(row.live_slot or "")
        wanted_live = None
        if live is not None and live.release is not None and not row.stopped:
            async with self.platform.pool.connection() as conn:
                processes = await process_store.of_slot(conn, app, live.name)
            web = sum(1 for p in processes if p.port is not None)
            wanted_live = Live(live.name, live.release, web)
        # every app has its site: one with no release serving answers 503, saying why
        wanted_site = nginx.render(
            site_of(self.platform, app, world.ports.get(app, {}), world.domains.get(app, []))
        )
        parked = "stopped" if row.stopped else ("new" if row.live_slot is None else "down")
        switched = nginx.live(app)
        if (
            live is not None
            and wanted_live is not None
            and live.state != SlotState.LIVE
            and switched is not None
            and (switched.slot, switched.release) == (wanted_live.slot, wanted_live.release)
        ):
            wanted_live = switched  # suspended or crashed, being brought back as it was
        if switched != wanted_live or (wanted_live is None and nginx.parked(app) != parked):
            await asyncio.to_thread(nginx.switch, app, wanted_live, parked)
            await self.platform.emit(
                EventType.SITE_REPAIRED,
                "switch put back where the store says",
                app,
                live=row.live_slot,
            )
        if world.sites.get(app) != wanted_site:
            await self._apply(app, wanted_site)

    async def _apply(self, app: str, content: str | None) -> None:
        try:
            await asyncio.to_thread(self.platform.nginx.apply, app, content)
        except ProxyError as exc:
            log.error("could not put %s's nginx site right: %s", app, exc)
            return
        await self.platform.emit(
            EventType.SITE_REPAIRED,
            "nginx site rendered again from the store",
            app,
            removed=content is None,
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            try:
                await self.pass_once()
            except Exception:
                log.exception("reconciler pass failed; trying again")
