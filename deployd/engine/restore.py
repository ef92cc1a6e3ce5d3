"""Bringing apps back after the daemon starts, and stopping them when dev mode ends.

The first piece of the reconciler: a live slot whose process is gone (the machine
rebooted) is started again from its release's artifact through crash → restart → health →
promote; a slot `deployd dev` suspended when it stopped, through resume → health → promote
(no crash: it was stopped on purpose). The state machine stays the only way a slot changes
state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from deployd.build.artifacts import is_built
from deployd.domain.manifest import Manifest
from deployd.domain.slots import RUNNING, SlotEvent, SlotState
from deployd.proxy.nginx import Live
from deployd.store import apps as app_store
from deployd.store import releases as release_store
from deployd.store.db import Row

from . import slots
from .building import artifact_dir
from .health import Unhealthy, wait_healthy
from .platform import Platform
from .sites import site_for

log = logging.getLogger(__name__)


async def revive_live_slots(platform: Platform) -> None:
    async with platform.pool.connection() as conn:
        rows = [
            r
            for r in await app_store.all_slots(conn)
            if r["state"] in (SlotState.LIVE, SlotState.SUSPENDED)
        ]
    for row in rows:
        handle = slots.handle_of(row)
        if handle is not None and platform.runtime.alive(handle):
            continue  # still running: adopted as it is
        try:
            await _restart(platform, row)
        except Exception as exc:
            log.error("could not bring %s back: %s", row["app"], exc)
            await platform.emit(
                "app.down",
                f"could not start the live release again: {exc}",
                row["app"],
                slot=row["name"],
            )


async def _restart(platform: Platform, row: Row) -> None:
    app, release_id = row["app"], row["release_id"]
    async with platform.pool.connection() as conn:
        release = await release_store.get(conn, release_id)
    if release is None or not release["build_key"]:
        raise RuntimeError(f"release {release_id} is gone")
    artifact = artifact_dir(platform, app, release["build_key"])
    if not is_built(artifact):
        raise RuntimeError(f"the build of release {release_id} is missing")
    manifest = Manifest.from_json(release["manifest"])
    suspended = row["state"] == SlotState.SUSPENDED
    if not suspended:
        row = await slots.transition(platform, app, row, SlotEvent.CRASH)
    handle = await slots.launch(platform, row, release, manifest, artifact)
    event = SlotEvent.RESUME if suspended else SlotEvent.RESTART
    row = await slots.transition(platform, app, row, event, handle=handle)
    try:
        await wait_healthy(
            platform.runtime,
            handle,
            row["port"],
            manifest.health,
            slots.strangers(platform, {**row, "runtime": release["runtime"]}, handle),
        )
    except Unhealthy:
        await slots.stop_process(platform, row, manifest.stop_timeout)
        await slots.transition(platform, app, row, SlotEvent.FAILED)
        raise
    row = await slots.transition(platform, app, row, SlotEvent.PASSED)
    await asyncio.to_thread(platform.nginx.switch, app, Live(row["name"], release_id))
    site = platform.nginx.render(await site_for(platform, app, await slots.load(platform, app)))
    if platform.nginx.current(app) != site:
        await asyncio.to_thread(platform.nginx.apply, app, site)
    await slots.transition(platform, app, row, SlotEvent.PROMOTE)
    if suspended:
        message = f"release {release_id} serves again (started with the daemon)"
    else:
        message = f"release {release_id} serves again"
    await platform.emit("app.restored", message, app, release=release_id, resumed=suspended)


async def stop_all(platform: Platform) -> None:
    """Dev teardown: stop every app process. Live slots are suspended (no crash, revived
    at the next start); any other slot with a process is stopped for good."""
    async with platform.pool.connection() as conn:
        rows = await app_store.all_slots(conn)
    for row in rows:
        if row["state"] == SlotState.LIVE:
            await slots.stop_process(platform, row, timeout=5)
            with contextlib.suppress(slots.StaleSlot):
                await slots.transition(platform, row["app"], row, SlotEvent.SUSPEND)
        elif SlotState(row["state"]) in RUNNING:
            await slots.stop_process(platform, row, timeout=5)
