"""Moving a slot through the state machine: the domain decides, the store records, the
runtime acts. Every transition is persisted before the engine moves on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from deployd.build.artifacts import image_of
from deployd.domain.manifest import Manifest
from deployd.domain.slots import RUNNING, Slot, SlotEvent, SlotState, step
from deployd.runtime import listeners
from deployd.runtime.base import Handle, LaunchSpec, StartError, read_pid_file
from deployd.runtime.listeners import Listener
from deployd.runtime.ports import is_free
from deployd.store import apps as store
from deployd.store.db import Row

from . import appconfig
from .platform import Platform


class StaleSlot(RuntimeError):
    """The slot is no longer in the state this actor saw; it must look again."""


def to_domain(row: Row) -> Slot:
    return Slot(
        name=row["name"],
        port=row["port"],
        state=SlotState(row["state"]),
        release_id=row["release_id"],
        changed_at=row["changed_at"],
    )


def handle_of(row: Row) -> Handle | None:
    if row["pid"] is None or row["pid_started_at"] is None:
        return None
    return Handle(row["pid"], row["pid_started_at"])


async def load(platform: Platform, app: str) -> dict[str, Row]:
    async with platform.pool.connection() as conn:
        return {row["name"]: row for row in await store.slots(conn, app)}


async def transition(
    platform: Platform,
    app: str,
    row: Row,
    event: SlotEvent,
    *,
    release_id: int | None = None,
    handle: Handle | None = None,
) -> Row:
    """Apply `event` to the slot in `row`; raises IllegalTransition for a move the table
    does not allow. Returns the new row. A slot keeps its process handle only in the
    states where its process runs."""
    slot = step(to_domain(row), event, datetime.now(UTC), release_id)
    new_handle = (handle or handle_of(row)) if slot.state in RUNNING else None
    async with platform.pool.connection() as conn:
        saved = await store.save_slot(
            conn,
            app,
            slot.name,
            expected_state=row["state"],
            state=slot.state.value,
            release_id=slot.release_id,
            pid=new_handle.pid if new_handle else None,
            pid_started_at=new_handle.started_at if new_handle else None,
        )
    if not saved:
        raise StaleSlot(f"{app}'s {slot.name} slot changed under us (was {row['state']})")
    await platform.emit(
        "slot." + slot.state.value,
        f"{slot.name} slot {slot.state.value}",
        app,
        slot=slot.name,
        release=slot.release_id,
        port=slot.port,
    )
    return {
        **row,
        "state": slot.state.value,
        "release_id": slot.release_id,
        "health_failures": 0,
        "changed_at": datetime.now(UTC),
        "pid": new_handle.pid if new_handle else None,
        "pid_started_at": new_handle.started_at if new_handle else None,
    }


_REST = {
    SlotState.STARTING: SlotEvent.FAILED,
    SlotState.HEALTHY: SlotEvent.ABORT,
    SlotState.DRAINING: SlotEvent.STOPPED,
    SlotState.CRASHED: SlotEvent.ABORT,
    SlotState.SUSPENDED: SlotEvent.ABORT,
}


async def rest(platform: Platform, app: str, row: Row, timeout: float = 10.0) -> Row:
    """Bring a slot to a state with no process (stopped, failed, empty), through the table,
    stopping its process. A live slot is taken out of service first, so its end is never
    mistaken for a crash. Raises StaleSlot if another actor moved it meanwhile."""
    if row["state"] == SlotState.LIVE:
        row = await transition(platform, app, row, SlotEvent.DRAIN)
    event = _REST.get(SlotState(row["state"]))
    if event is None:
        return row
    await stop_process(platform, row, timeout)
    return await transition(platform, app, row, event)


async def stop_process(platform: Platform, row: Row, timeout: float = 10.0) -> None:
    """Stop the slot's process, whether the store or only its pid file knows it."""
    path = pid_file(platform, row["app"], row["name"])
    handles = [h for h in {handle_of(row), read_pid_file(path)} if h is not None]
    runtime = platform.runtimes[row.get("runtime") or "process"]
    await runtime.stop(row["app"], row["name"], handles, timeout)
    path.unlink(missing_ok=True)


def pid_file(platform: Platform, app: str, slot: str) -> Path:
    return platform.paths.app_dir(app) / f"{slot}.pid"


async def launch(
    platform: Platform, row: Row, release: Row, manifest: Manifest, artifact: Path
) -> Handle:
    """Start `release` in the slot on the release's runtime: its env file first (this
    release's config), then the slot's launcher, which reads it."""
    account = await platform.accounts.prepare(row["app"])
    env_file = await appconfig.write_slot_env(platform, row, release, artifact)
    runtime = platform.runtimes[release["runtime"]]
    spec = LaunchSpec(
        app=row["app"],
        slot=row["name"],
        release=release["id"],
        port=row["port"],
        command=manifest.web,
        workdir=artifact,
        env_file=env_file,
        log_file=log_file(platform, row["app"], row["name"]),
        pid_file=pid_file(platform, row["app"], row["name"]),
        stop_timeout=manifest.stop_timeout,
        user=account.owner,
        image=image_of(artifact),
        network=manifest.docker_network or platform.settings.docker_network,
        memory_bytes=manifest.memory_bytes,
        cpus=manifest.cpus,
    )
    if not await asyncio.to_thread(is_free, row["port"]):
        holders = await asyncio.to_thread(listeners.listeners, row["port"])
        raise StartError(
            f"port {row['port']} of the {row['name']} slot is taken by "
            f"{listeners.describe(holders) or 'another program'}: stop it, or give deployd "
            "a DEPLOYD_PORT_RANGE of its own"
        )
    async with platform.pool.connection() as conn:  # first: whoever stops it must know how
        await store.set_slot_runtime(conn, row["app"], row["name"], runtime.name)
    return await asyncio.to_thread(runtime.start, spec)


def strangers(platform: Platform, row: Row, handle: Handle) -> Callable[[], list[Listener]]:
    """The listeners on the slot's port that are not the slot's own processes."""
    runtime = platform.runtimes[row.get("runtime") or "process"]

    def look() -> list[Listener]:
        return listeners.strangers(row["port"], runtime.ours(row["app"], row["name"], handle))

    return look


def log_file(platform: Platform, app: str, slot: str) -> Path:
    return platform.paths.app_logs(app) / f"{slot}.log"
