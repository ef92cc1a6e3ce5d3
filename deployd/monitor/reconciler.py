"""The reconciler: level-triggered, idempotent, and it reads everything before it acts.

At daemon start it finishes or aborts the jobs a previous daemon left running; then, at
start and every few seconds, it compares what the store says with what runs:

- a job left mid-way: if nginx's site file already points at the job's new slot and that
  process answers, the switch had happened (writing the site file is the commit point),
  so it is completed: store, slots and job are brought in line. Otherwise it is aborted:
  the new slot is stopped and the site rendered again for the slot the store says is live.
- slots starting or healthy with no job behind them, and draining ones nobody drains,
  are stopped; a process recorded in a slot's pid file while the slot says it has none is
  an orphan and is stopped too;
- every app's nginx site must be what the store implies; one that differs is rendered
  again (through `nginx -t`), and site files of apps that no longer exist are removed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from deployd.domain.slots import RUNNING, SlotEvent, SlotState
from deployd.engine import slots
from deployd.engine.platform import Platform
from deployd.proxy.nginx import ProxyError, Site
from deployd.runtime.process import read_pid_file
from deployd.store import apps as app_store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store.db import Row

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0
_UPSTREAM = re.compile(r"server 127\.0\.0\.1:(\d+);")


@dataclass
class World:
    """Everything the reconciler decides from, read at one moment."""

    apps: dict[str, Row]
    slots: dict[str, dict[str, Row]]
    active_jobs: dict[str, Row]
    sites: dict[str, str]


class Reconciler:
    def __init__(self, platform: Platform, owned_jobs: set[int]) -> None:
        self.platform = platform
        self.owned_jobs = owned_jobs
        """Ids of the jobs this daemon is running right now: never touched."""

    async def read(self) -> World:
        async with self.platform.pool.connection() as conn:
            apps = {a["name"]: a for a in await app_store.list_all(conn)}
            by_app: dict[str, dict[str, Row]] = {}
            for row in await app_store.all_slots(conn):
                by_app.setdefault(row["app"], {})[row["name"]] = row
            active = {}
            for name in apps:
                job = await job_store.active(conn, name)
                if job is not None:
                    active[name] = job
        sites = {}
        for path in self.platform.nginx.sites_dir.glob("deployd-*.conf"):
            sites[path.name.removeprefix("deployd-").removesuffix(".conf")] = path.read_text()
        return World(apps, by_app, active, sites)

    async def recover_jobs(self) -> None:
        """Daemon start: finish or abort every job a previous daemon left running."""
        world = await self.read()
        for app, job in world.active_jobs.items():
            if job["state"] == "running" and job["id"] not in self.owned_jobs:
                await self._recover(world, app, job)

    async def _recover(self, world: World, app: str, job: Row) -> None:
        platform = self.platform
        target = next(
            (
                s
                for s in world.slots[app].values()
                if s["release_id"] == job["release_id"]
                and s["state"] in RUNNING
                and s["name"] != world.apps[app]["live_slot"]
            ),
            None,
        )
        site_port = _site_port(world.sites.get(app))
        handle = slots.handle_of(target) if target else None
        if (
            target is not None
            and site_port == target["port"]
            and handle is not None
            and platform.runtime.alive(handle)
        ):
            await self._complete(world, app, job, target)
            return
        if target is not None:
            await slots.stop_process(platform, target)
            event = SlotEvent.ABORT if target["state"] == SlotState.HEALTHY else SlotEvent.FAILED
            if target["state"] in (SlotState.STARTING, SlotState.HEALTHY):
                await slots.transition(platform, app, target, event)
        reason = f"interrupted by a daemon restart during {job['step'] or 'start'}; aborted"
        async with platform.pool.connection() as conn:
            await job_store.finish(conn, job["id"], error=reason)
            if job["kind"] == "deploy" and job["release_id"]:
                await release_store.update(conn, job["release_id"], status="failed", error=reason)
        await platform.emit("deploy.failed", reason, app, job=job["id"])

    async def _complete(self, world: World, app: str, job: Row, target: Row) -> None:
        """The new slot was switched to before the daemon died: record that it is live."""
        platform = self.platform
        if target["state"] == SlotState.STARTING:
            target = await slots.transition(platform, app, target, SlotEvent.PASSED)
        if target["state"] == SlotState.HEALTHY:
            target = await slots.transition(platform, app, target, SlotEvent.PROMOTE)
        old_name = world.apps[app]["live_slot"]
        async with platform.pool.connection() as conn, conn.transaction():
            await app_store.set_live_slot(conn, app, target["name"])
            await release_store.mark_live(conn, app, target["release_id"])
        if old_name is not None:
            old = (await slots.load(platform, app))[old_name]
            await slots.stop_process(platform, old)
            if old["state"] == SlotState.LIVE:
                old = await slots.transition(platform, app, old, SlotEvent.DRAIN)
            if old["state"] == SlotState.DRAINING:
                await slots.transition(platform, app, old, SlotEvent.STOPPED)
        async with platform.pool.connection() as conn:
            await job_store.finish(conn, job["id"], error=None)
        await platform.emit(
            "deploy.succeeded",
            f"release {target['release_id']} was switched to before a daemon restart; completed",
            app,
            job=job["id"],
        )

    async def pass_once(self) -> None:
        """One comparison of the whole world with the store, acting on what differs."""
        world = await self.read()
        busy = set(world.active_jobs) | set(self.platform.drains)
        for app, by_name in world.slots.items():
            if app in busy:
                continue
            for row in by_name.values():
                await self._settle_slot(app, row)
        await self._sites(await self.read())

    async def _settle_slot(self, app: str, row: Row) -> None:
        platform = self.platform
        state = SlotState(row["state"])
        try:
            if state in (SlotState.STARTING, SlotState.HEALTHY) and row["next_restart_at"] is None:
                await slots.stop_process(platform, row)
                event = SlotEvent.ABORT if state is SlotState.HEALTHY else SlotEvent.FAILED
                await slots.transition(platform, app, row, event)
            elif state is SlotState.DRAINING:
                await slots.stop_process(platform, row)
                await slots.transition(platform, app, row, SlotEvent.STOPPED)
            elif state not in RUNNING:
                orphan = read_pid_file(slots.pid_file(platform, app, row["name"]))
                if orphan is not None and platform.runtime.alive(orphan):
                    log.warning(
                        "stopping an orphan process %d of %s/%s", orphan.pid, app, row["name"]
                    )
                    await slots.stop_process(platform, row)
                elif orphan is not None:
                    slots.pid_file(platform, app, row["name"]).unlink(missing_ok=True)
        except slots.StaleSlot:
            pass  # it moved while we looked: the next pass sees the new state

    async def _sites(self, world: World) -> None:
        nginx = self.platform.nginx
        for app, row in world.apps.items():
            if app in world.active_jobs:
                continue
            live = world.slots.get(app, {}).get(row["live_slot"] or "")
            wanted = None
            if live is not None and live["release_id"] is not None:
                site = Site(app, live["port"], live["release_id"], (self.platform.hostname(app),))
                wanted = nginx.render(site)
            if world.sites.get(app) != wanted:
                await self._apply(app, wanted)
        for app in set(world.sites) - set(world.apps):
            await self._apply(app, None)

    async def _apply(self, app: str, content: str | None) -> None:
        try:
            await asyncio.to_thread(self.platform.nginx.apply, app, content)
        except ProxyError as exc:
            log.error("could not put %s's nginx site right: %s", app, exc)
            return
        await self.platform.emit(
            "site.repaired",
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


def _site_port(content: str | None) -> int | None:
    match = _UPSTREAM.search(content or "")
    return int(match[1]) if match else None
