"""Moving a slot through the state machine: the domain decides, the store records, the
runtime acts. Every transition is persisted before the engine moves on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from deployd.build.artifacts import image_of
from deployd.domain import formation
from deployd.domain.errors import DomainError
from deployd.domain.formation import ProcessName
from deployd.domain.manifest import Manifest
from deployd.domain.ports import pick_ports
from deployd.domain.slots import Effect, Slot, SlotEvent, SlotState, step
from deployd.protocol.events import EventType
from deployd.runtime import listeners, logs
from deployd.runtime.base import Handle, LaunchSpec, StartError, read_pid_file
from deployd.runtime.listeners import Listener
from deployd.runtime.ports import is_free
from deployd.store import apps as store
from deployd.store import processes as process_store
from deployd.store.apps import SlotRow
from deployd.store.processes import ProcessRow
from deployd.store.releases import ReleaseRow

from . import appconfig
from .platform import Platform

log = logging.getLogger(__name__)


SLOT_EVENTS: dict[SlotState, EventType] = {
    SlotState.EMPTY: EventType.SLOT_EMPTY,
    SlotState.STARTING: EventType.SLOT_STARTING,
    SlotState.HEALTHY: EventType.SLOT_HEALTHY,
    SlotState.LIVE: EventType.SLOT_LIVE,
    SlotState.DRAINING: EventType.SLOT_DRAINING,
    SlotState.STOPPED: EventType.SLOT_STOPPED,
    SlotState.FAILED: EventType.SLOT_FAILED,
    SlotState.CRASHED: EventType.SLOT_CRASHED,
    SlotState.SUSPENDED: EventType.SLOT_SUSPENDED,
}
"""The event each state a slot reaches is announced with."""


class StaleSlot(RuntimeError):
    """The slot is no longer in the state this actor saw; it must look again."""


def to_domain(row: SlotRow) -> Slot:
    return Slot(
        name=row.name,
        port=row.port,
        state=row.state,
        release_id=row.release_id,
        changed_at=row.changed_at,
    )


def handle_of(row: SlotRow) -> Handle | None:
    if row.pid is None or row.pid_started_at is None:
        return None
    return Handle(row.pid, row.pid_started_at)


async def load(platform: Platform, app: str) -> dict[str, SlotRow]:
    async with platform.pool.connection() as conn:
        return {row.name: row for row in await store.slots(conn, app)}


class SlotWorld(Protocol):
    """What moving a slot touches: the processes, the store, the event bus. The engine's
    is `PlatformSlots`; unit tests drive `move` and `settle` with a recording fake."""

    async def stop_processes(self, row: SlotRow, timeout: float) -> None: ...

    async def save(self, app: str, row: SlotRow, slot: Slot, handle: Handle | None) -> bool:
        """Record the slot's new state if it still is in `row`'s; False if it moved."""
        ...

    async def announce(self, app: str, slot: Slot, release: int | None) -> None: ...

    async def start_processes(
        self, row: SlotRow, release: ReleaseRow, plan: Launch
    ) -> list[Started]: ...


@dataclass(frozen=True, slots=True)
class Launch:
    """What starting a release in a slot needs besides the release itself."""

    manifest: Manifest
    artifact: Path
    counted: dict[str, int]
    """How many of each process type (see `counts`)."""


class PlatformSlots:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def stop_processes(self, row: SlotRow, timeout: float) -> None:
        await stop_process(self.platform, row, timeout)

    async def save(self, app: str, row: SlotRow, slot: Slot, handle: Handle | None) -> bool:
        async with self.platform.pool.connection() as conn:
            return await store.save_slot(
                conn,
                app,
                slot.name,
                expected_state=row.state,
                state=slot.state,
                release_id=slot.release_id,
                pid=handle.pid if handle else None,
                pid_started_at=handle.started_at if handle else None,
            )

    async def announce(self, app: str, slot: Slot, release: int | None) -> None:
        await self.platform.emit(
            SLOT_EVENTS[slot.state],
            f"{slot.name} slot {slot.state.value}",
            app,
            slot=slot.name,
            release=release,
            port=slot.port,
        )

    async def start_processes(
        self, row: SlotRow, release: ReleaseRow, plan: Launch
    ) -> list[Started]:
        return await launch(self.platform, row, release, plan.manifest, plan.artifact, plan.counted)


async def transition(
    platform: Platform,
    app: str,
    row: SlotRow,
    event: SlotEvent,
    *,
    timeout: float = 10.0,
) -> SlotRow:
    """Apply `event` to the slot in `row`, with its effects (see `move`)."""
    return await move(PlatformSlots(platform), app, row, event, timeout=timeout)


async def start_release(
    platform: Platform,
    row: SlotRow,
    event: SlotEvent,
    release: ReleaseRow,
    plan: Launch,
    *,
    timeout: float = 10.0,
) -> tuple[SlotRow, list[Started]]:
    """Start `release` in the slot in `row` (see `start`)."""
    world = PlatformSlots(platform)
    return await start(world, row.app, row, event, release, plan, timeout=timeout)


async def move(
    world: SlotWorld,
    app: str,
    row: SlotRow,
    event: SlotEvent,
    *,
    timeout: float = 10.0,
) -> SlotRow:
    """Apply `event` to the slot in `row`: the table decides the new state and its
    effects, which are carried out before the state is recorded (what must not run in it
    is stopped, within `timeout`), so no actor ever reads a state the world does not
    match. Raises IllegalTransition for a move the table does not allow, StaleSlot if
    another actor moved the slot first. Returns the new row. Moves that start the
    slot's release go through `start`."""
    slot, effects = step(to_domain(row), event, datetime.now(UTC), row.release_id)
    if Effect.START_PROCESSES in effects:
        raise ValueError(f"{event.value} starts the slot's release: use slots.start")
    if Effect.STOP_PROCESSES in effects:
        await world.stop_processes(row, timeout)
    keep = None if Effect.FORGET_HANDLE in effects else handle_of(row)
    return await _record(world, app, row, slot, keep, row.release, row.runtime)


async def start(
    world: SlotWorld,
    app: str,
    row: SlotRow,
    event: SlotEvent,
    release: ReleaseRow,
    plan: Launch,
    *,
    timeout: float = 10.0,
) -> tuple[SlotRow, list[Started]]:
    """Apply an event that starts `release` in the slot (START, RESTART, RESUME): its
    processes are started first and the slot recorded STARTING with their handle. Should
    starting fail (StartError), what did start is stopped, within `timeout`, and the slot
    stays as it was."""
    slot, effects = step(to_domain(row), event, datetime.now(UTC), release.id)
    if Effect.START_PROCESSES not in effects:
        raise ValueError(f"{event.value} does not start a release")
    try:
        started = await world.start_processes(row, release, plan)
    except StartError:
        await world.stop_processes(row, timeout)
        raise
    moved = await _record(world, app, row, slot, primary(started), release.version, release.runtime)
    return moved, started


async def _record(
    world: SlotWorld,
    app: str,
    row: SlotRow,
    slot: Slot,
    handle: Handle | None,
    version: int | None,
    runtime: str,
) -> SlotRow:
    """Save the slot's new state (if no other actor moved it first) and announce it."""
    if not await world.save(app, row, slot, handle):
        raise StaleSlot(f"{app}'s {slot.name} slot changed under us (was {row.state})")
    await world.announce(app, slot, version)
    return replace(
        row,
        state=slot.state,
        release_id=slot.release_id,
        release=version,
        health_failures=0,
        changed_at=slot.changed_at,
        pid=handle.pid if handle else None,
        pid_started_at=handle.started_at if handle else None,
        runtime=runtime,
    )


_REST = {
    SlotState.STARTING: SlotEvent.FAILED,
    SlotState.HEALTHY: SlotEvent.ABORT,
    SlotState.DRAINING: SlotEvent.STOPPED,
    SlotState.CRASHED: SlotEvent.ABORT,
    SlotState.SUSPENDED: SlotEvent.ABORT,
}


async def rest(platform: Platform, app: str, row: SlotRow, timeout: float = 10.0) -> SlotRow:
    """Bring a slot to rest (see `settle`)."""
    return await settle(PlatformSlots(platform), app, row, timeout)


async def settle(world: SlotWorld, app: str, row: SlotRow, timeout: float = 10.0) -> SlotRow:
    """Bring a slot to a state with no process (stopped, failed, empty), through the table,
    its steps stopping what runs. A live slot is taken out of service first, so its end is
    never mistaken for a crash. Raises StaleSlot if another actor moved it meanwhile."""
    if row.state is SlotState.LIVE:
        row = await move(world, app, row, SlotEvent.DRAIN, timeout=timeout)
    event = _REST.get(row.state)
    if event is None:
        return row
    return await move(world, app, row, event, timeout=timeout)


async def stop_process(platform: Platform, row: SlotRow, timeout: float = 10.0) -> None:
    """Stop every process of the slot, whether the store or only a pid file knows it."""
    app, slot = row.app, row.name
    async with platform.pool.connection() as conn:
        known = await process_store.of_slot(conn, app, slot)
    handles: dict[str, set[Handle]] = {}
    for proc in known:
        if proc.pid is not None and proc.pid_started_at is not None:
            handles.setdefault(str(proc.name), set()).add(Handle(proc.pid, proc.pid_started_at))
    for path in pid_files(platform, app, slot):
        found = read_pid_file(path)
        if found is not None:
            handles.setdefault(_process_of(path, slot), set()).add(found)
    legacy = handle_of(row)  # an older deployd's slot: its one process is web.1
    if legacy is not None:
        handles.setdefault("web.1", set()).add(legacy)
    runtime = platform.runtimes[row.runtime]
    names = sorted(handles.keys() | {str(p.name) for p in known})
    if names and row.release is not None:
        await mark(platform, app, row.release, f"stopping the {slot} slot")
    await asyncio.gather(
        *(runtime.stop(app, slot, name, handles.get(name, set()), timeout) for name in names)
    )
    for path in pid_files(platform, app, slot):
        path.unlink(missing_ok=True)
    async with platform.pool.connection() as conn:
        await process_store.forget(conn, app, slot)


async def stop_one(
    platform: Platform, row: SlotRow, proc: ProcessRow, timeout: float = 10.0
) -> None:
    """Stop one process of a slot for good. It is forgotten first, so its end is never
    taken for a crash; its pid file stays until it is gone, for the reconciler to find
    should the daemon die meanwhile."""
    app, slot = row.app, row.name
    async with platform.pool.connection() as conn:
        await process_store.forget(conn, app, slot, proc.name)
    handles = {handle for handle in [process_handle(proc)] if handle is not None}
    path = pid_file(platform, app, slot, str(proc.name))
    found = read_pid_file(path)
    if found is not None:
        handles.add(found)
    runtime = platform.runtimes[row.runtime]
    await runtime.stop(app, slot, str(proc.name), handles, timeout)
    path.unlink(missing_ok=True)


def process_handle(proc: ProcessRow) -> Handle | None:
    if proc.pid is None or proc.pid_started_at is None:
        return None
    return Handle(proc.pid, proc.pid_started_at)


def pid_file(platform: Platform, app: str, slot: str, process: str) -> Path:
    return platform.paths.app_dir(app) / f"{slot}.{process}.pid"


def pid_files(platform: Platform, app: str, slot: str) -> list[Path]:
    """A slot's pid files, an older deployd's (`blue.pid`) included."""
    directory = platform.paths.app_dir(app)
    return [*directory.glob(f"{slot}.*.pid"), directory / f"{slot}.pid"]


def _process_of(path: Path, slot: str) -> str:
    name = path.name.removeprefix(f"{slot}.").removesuffix(".pid")
    return name if name != "pid" and name else "web.1"


@dataclass(frozen=True, slots=True)
class Started:
    name: ProcessName
    handle: Handle
    port: int | None


async def counts(platform: Platform, app: str, manifest: Manifest) -> dict[str, int]:
    """How many of each of the release's process types run: scaled, else app.json's,
    else Heroku's defaults."""
    async with platform.pool.connection() as conn:
        saved = await process_store.formation(conn, app)
    return formation.counts(manifest.runnable(), saved, manifest.formation)


async def web_ports(platform: Platform, app: str, slot: str, needed: int) -> list[int]:
    """The slot's web ports, more allocated (from the port range) when `needed` grew."""
    async with platform.pool.connection() as conn, conn.transaction():
        ports = await process_store.web_ports(conn, app, slot)
        if len(ports) >= needed:
            return ports
        await conn.execute("LOCK TABLE slots IN EXCLUSIVE MODE")  # one allocation at a time
        try:
            extra = pick_ports(
                platform.ports, await store.all_ports(conn), is_free, count=needed - len(ports)
            )
        except DomainError as exc:
            raise StartError(str(exc)) from None
        for index, port in enumerate(extra, start=len(ports) + 1):
            await process_store.add_web_port(conn, app, slot, index, port)
        return [*ports, *extra]


async def launch(
    platform: Platform,
    row: SlotRow,
    release: ReleaseRow,
    manifest: Manifest,
    artifact: Path,
    counted: dict[str, int],
    only: ProcessName | None = None,
    restarts: int = 0,
) -> list[Started]:
    """Start `release`'s processes in the slot (all of `counted`, or just `only`) on the
    release's runtime: each its env file first (this release's config, its PORT), then its
    launcher, which reads it. A web process's port must be free."""
    app, slot = row.app, row.name
    account = await platform.accounts.prepare(app)
    ports = await web_ports(platform, app, slot, counted.get("web", 0))
    try:
        planned = formation.plan(manifest.runnable(), counted, ports)
    except DomainError as exc:
        raise StartError(str(exc)) from None
    if only is not None:
        planned = [p for p in planned if p.name == only]
    for process in planned:
        if process.port is not None and not await asyncio.to_thread(is_free, process.port):
            holders = await asyncio.to_thread(listeners.listeners, process.port)
            raise StartError(
                f"port {process.port} of {process.name} in the {slot} slot is taken by "
                f"{listeners.describe(holders) or 'another program'}: stop it, or give "
                "deployd a DEPLOYD_PORT_RANGE of its own"
            )
    runtime = platform.runtimes[release.runtime]
    async with platform.pool.connection() as conn:  # first: whoever stops it must know how
        await store.set_slot_runtime(conn, app, slot, runtime.name)
    await mark(
        platform,
        app,
        release.version,
        f"starting {only}"
        if only is not None
        else f"v{release.version} starts in the {slot} slot: {formation.describe(counted)}",
    )
    started: list[Started] = []
    image = image_of(artifact)
    network = manifest.docker_network or platform.settings.docker_network
    for process in planned:
        name = str(process.name)
        env_file = await appconfig.write_process_env(
            platform,
            row,
            release,
            artifact,
            name,
            process.port,
            bridge=image is not None and network == "bridge",
        )
        spec = LaunchSpec(
            app=app,
            slot=slot,
            release=release.version,
            port=process.port,
            command=process.command,
            workdir=artifact,
            env_file=env_file,
            log_file=log_file(platform, app),
            pid_file=pid_file(platform, app, slot, name),
            stop_timeout=manifest.stop_timeout,
            quiet_path=_probed_path(manifest) if process.port is not None else None,
            process=name,
            user=account.owner,
            app_mount=platform.app_mount and image is None,
            image=image,
            network=network,
            memory_bytes=manifest.memory_bytes,
            cpus=manifest.cpus,
        )
        handle = await asyncio.to_thread(runtime.start, spec)
        async with platform.pool.connection() as conn:
            await process_store.started(
                conn,
                app,
                slot,
                process.name,
                release_id=release.id,
                port=process.port,
                pid=handle.pid,
                pid_started_at=handle.started_at,
                restarts=restarts,
            )
        started.append(Started(process.name, handle, process.port))
    return started


def primary(started: list[Started]) -> Handle | None:
    """The handle a slot's row keeps: web.1's, else its first process's."""
    return started[0].handle if started else None


def strangers(
    platform: Platform, row: SlotRow, process: str, handle: Handle, port: int
) -> Callable[[], list[Listener]]:
    """The listeners on a web process's port that are not that process's own."""
    runtime = platform.runtimes[row.runtime]

    def look() -> list[Listener]:
        return listeners.strangers(port, runtime.ours(row.app, row.name, process, handle))

    return look


def _probed_path(manifest: Manifest) -> str | None:
    """The path whose access-log lines are deployd's probes, to leave out of the log: not
    `/` (visitors' requests look the same), nor when `[health] log_probes` keeps them."""
    path = manifest.health.path
    return None if manifest.health.log_probes or path.split("?")[0] == "/" else path


async def mark(platform: Platform, app: str, release: int, text: str) -> None:
    """A line of the daemon's own in the app's log (a release starting, a one-off), under
    the release's number."""
    try:
        await asyncio.to_thread(logs.mark, log_file(platform, app), release, text)
    except OSError as exc:  # a full disk must not stop a deploy or a stop
        log.warning("could not write to %s's log: %s", app, exc)


def log_file(platform: Platform, app: str) -> Path:
    """Every process of the app writes here, each line stamped with its time and name."""
    return platform.paths.app_logs(app) / "app.log"
