"""Bringing apps back after the daemon starts, and stopping them when dev mode ends.

The first piece of the reconciler: a live slot whose process is gone (the machine
rebooted, or `deployd dev` stopped its apps) is started again from its release's artifact
through crash → restart → health → promote, so the state machine stays the only way a
slot changes state.
"""

from __future__ import annotations

import asyncio
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
        rows = [r for r in await app_store.all_slots(conn) if r["state"] == SlotState.LIVE]
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
    row = await slots.transition(platform, app, row, SlotEvent.CRASH)
    handle = await slots.launch(platform, row, release, manifest, artifact)
    row = await slots.transition(platform, app, row, SlotEvent.RESTART, handle=handle)
    try:
        await wait_healthy(platform.runtime, handle, row["port"], manifest.health)
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
    await platform.emit(
        "app.restored", f"release {release_id} serves again", app, release=release_id
    )


async def stop_all(platform: Platform) -> None:
    """Dev teardown: stop every app process (their slots stay live, to be revived)."""
    async with platform.pool.connection() as conn:
        rows = await app_store.all_slots(conn)
    for row in rows:
        if SlotState(row["state"]) in RUNNING:
            await slots.stop_process(platform, row, timeout=5)
