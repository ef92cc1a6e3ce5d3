"""Bringing apps back after the daemon starts, and stopping them when dev mode ends.

The first piece of the reconciler: a live slot whose process is gone (the machine
rebooted) is started again from its release's artifact through crash → restart → health →
promote; a slot `deployd dev` suspended when it stopped, through resume → health → promote
(no crash: it was stopped on purpose). The state machine stays the only way a slot changes
state.
"""

from __future__ import annotations

import contextlib
import logging

from deployd.build.artifacts import is_built
from deployd.domain.slots import RUNNING, SlotEvent, SlotState
from deployd.protocol.events import EventType
from deployd.proxy.nginx import Live
from deployd.store import apps as app_store
from deployd.store import processes as process_store
from deployd.store import releases as release_store
from deployd.store.apps import SlotRow

from . import slots
from .building import artifact_dir
from .health import Unhealthy, wait_ready
from .platform import Platform
from .sites import serve

log = logging.getLogger(__name__)


async def revive_live_slots(platform: Platform) -> None:
    async with platform.pool.connection() as conn:
        stopped = {a.name for a in await app_store.list_all(conn) if a.stopped}
        rows = [
            r
            for r in await app_store.all_slots(conn)
            if r.state in (SlotState.LIVE, SlotState.SUSPENDED) and r.app not in stopped
        ]
    for row in rows:
        async with platform.pool.connection() as conn:
            processes = await process_store.of_slot(conn, row.app, row.name)
        handles = [slots.process_handle(p) for p in processes] + [slots.handle_of(row)]
        if any(h is not None and platform.runtime.alive(h) for h in handles):
            continue  # running: adopted as it is (the supervisor restarts any dead one)
        try:
            await bring_back(platform, row)
        except Exception as exc:
            log.error("could not bring %s back: %s", row.app, exc)
            await platform.emit(
                EventType.APP_DOWN,
                f"could not start the live release again: {exc}",
                row.app,
                slot=row.name,
            )


async def bring_back(platform: Platform, row: SlotRow) -> None:
    """Start a live slot's release again (crashed with the machine, or suspended) and
    serve it; raises whatever stopped that."""
    app, release_id = row.app, row.release_id
    if release_id is None:
        raise RuntimeError(f"the {row.name} slot holds no release")
    async with platform.pool.connection() as conn:
        release = await release_store.get(conn, release_id)
    if release is None or not release.build_key:
        raise RuntimeError(f"the release of the {row.name} slot is gone")
    number = release.version
    artifact = artifact_dir(platform, app, release.build_key)
    if not is_built(artifact):
        raise RuntimeError(f"the build of v{number} is missing")
    manifest = release.built_manifest()
    suspended = row.state == SlotState.SUSPENDED
    if suspended:  # what a suspension may have left behind
        await slots.stop_process(platform, row, manifest.stop_timeout)
    else:  # the step stops what the crash left behind
        row = await slots.transition(
            platform, app, row, SlotEvent.CRASH, timeout=manifest.stop_timeout
        )
    plan = slots.Launch(manifest, artifact, await slots.counts(platform, app, manifest))
    event = SlotEvent.RESUME if suspended else SlotEvent.RESTART
    row, started = await slots.start_release(
        platform, row, event, release, plan, timeout=manifest.stop_timeout
    )
    try:
        await wait_ready(platform, row, release, manifest, started)
    except Unhealthy:
        await slots.transition(platform, app, row, SlotEvent.FAILED, timeout=manifest.stop_timeout)
        raise
    row = await slots.transition(platform, app, row, SlotEvent.PASSED)
    web = sum(1 for s in started if s.port is not None)
    await serve(platform, app, Live(row.name, number, web))
    await slots.transition(platform, app, row, SlotEvent.PROMOTE)
    if suspended:
        message = f"v{number} serves again (started with the daemon)"
    else:
        message = f"v{number} serves again"
    await platform.emit(EventType.APP_RESTORED, message, app, release=number, resumed=suspended)


async def stop_all(platform: Platform) -> None:
    """Dev teardown: stop every app process. Live slots are suspended (no crash, revived
    at the next start); any other slot with a process is stopped for good."""
    async with platform.pool.connection() as conn:
        rows = await app_store.all_slots(conn)
    for row in rows:
        if row.state == SlotState.LIVE:
            with contextlib.suppress(slots.StaleSlot):
                await slots.transition(platform, row.app, row, SlotEvent.SUSPEND, timeout=5)
        elif row.state in RUNNING:
            await slots.stop_process(platform, row, timeout=5)
