"""`apps.ps`, `apps.scale`, `apps.restart`, `apps.stop`, `apps.start`: an app's processes.

Reading is immediate; every change is a job (one per app at a time, like deploys), so a
scale never races a deploy and the client follows it the same way.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
from collections.abc import AsyncIterator

from deployd.domain import formation
from deployd.domain.errors import DomainError
from deployd.domain.lifecycle import JobKind, ProcessState, process_state
from deployd.domain.manifest import Manifest
from deployd.domain.slots import SlotState
from deployd.engine import oneoffs, slots
from deployd.protocol.apps import (
    AppParams,
    AppsPsResult,
    AppsRestartParams,
    AppsRunParams,
    AppsScaleParams,
    JobInfo,
    ProcessInfo,
    RunEnded,
    RunStarted,
)
from deployd.protocol.errors import conflict, invalid, not_found
from deployd.protocol.events import EventType
from deployd.runtime.oneoff import Handoff, HandoffError
from deployd.runtime.usage import measure
from deployd.store import apps as app_store
from deployd.store import processes as process_store
from deployd.store.processes import ProcessRow

from .core import Caller, Core
from .deploys import enqueue


async def ps(core: Core, caller: Caller, params: AppParams) -> AppsPsResult:
    async with core.pool.connection() as conn:
        app = await app_store.get(conn, params.name)
        if app is None:
            raise not_found(f"no app named {params.name}")
        slot_rows = await app_store.slots(conn, params.name)
        states = {row.name: row.state for row in slot_rows}
        running: list[ProcessRow] = []
        for slot in states:
            running += await process_store.of_slot(conn, params.name, slot)
        live = await app_store.live(conn, params.name)
    manifest = live.release.built_manifest() if live and live.release.manifest else None
    counted = await slots.counts(core.platform, params.name, manifest) if manifest else {}
    pids = [p.pid for p in running if p.pid is not None]
    usage = await asyncio.to_thread(measure, pids, clock=core.platform.readings.cpu)
    live_first = sorted(running, key=lambda p: (p.slot != app.live_slot, p.slot, p.name))
    return AppsPsResult(
        app=params.name,
        stopped=app.stopped,
        live_release=live.release.version if live is not None else None,
        formation=counted,
        processes=[
            ProcessInfo(
                name=str(p.name),
                type=p.name.type,
                slot=p.slot,
                release=p.release,
                state=_state(p, states[p.slot]),
                pid=usage[p.pid].pid if p.pid in usage else None,
                port=p.port,
                started_at=p.started_at,
                restarts=p.restarts,
                last_exit=p.last_exit,
                cpu_percent=usage[p.pid].cpu_percent if p.pid in usage else None,
                rss_bytes=usage[p.pid].rss_bytes if p.pid in usage else None,
            )
            for p in live_first
        ],
    )


def _state(proc: ProcessRow, slot_state: str) -> ProcessState:
    return process_state(proc.pid is not None, SlotState(slot_state))


async def scale(core: Core, caller: Caller, params: AppsScaleParams) -> JobInfo:
    try:
        changes = formation.parse_scale(params.changes)
        manifest = await _live_manifest(core, params.app)
        if manifest is not None:  # checked again by the job, against what is live then
            formation.check_scale(manifest.runnable(), changes)
    except DomainError as exc:
        raise invalid(str(exc)) from None
    return await enqueue(core, caller, params.app, JobKind.SCALE, {"changes": changes})


async def _live_manifest(core: Core, app: str) -> Manifest | None:
    """The live release's manifest; None when nothing is live."""
    async with core.pool.connection() as conn:
        if await app_store.get(conn, app) is None:
            raise not_found(f"no app named {app}")
        live = await app_store.live(conn, app)
    if live is None or live.release.manifest is None:
        return None
    return live.release.built_manifest()


async def restart(core: Core, caller: Caller, params: AppsRestartParams) -> JobInfo:
    manifest = await _live_manifest(core, params.app)
    if params.type is not None and manifest is not None:  # checked again by the job
        try:
            formation.check_scale(manifest.runnable(), [params.type])
        except DomainError as exc:
            raise invalid(str(exc)) from None
    job_params: dict[str, object] = {"type": params.type} if params.type else {}
    return await enqueue(core, caller, params.app, JobKind.RESTART, job_params)


async def stop(core: Core, caller: Caller, params: AppParams) -> JobInfo:
    return await enqueue(core, caller, params.name, JobKind.STOP, {})


async def start(core: Core, caller: Caller, params: AppParams) -> JobInfo:
    return await enqueue(core, caller, params.name, JobKind.START, {})


async def run(
    core: Core, caller: Caller, params: AppsRunParams
) -> tuple[RunStarted, AsyncIterator[RunEnded]]:
    """A one-off of the live release. Attached: the first answer names the one-time
    socket the client hands its terminal to; the stream then says how it ended."""
    platform = core.platform
    name = f"run.{secrets.randbelow(9000) + 1000}"
    try:
        one = await oneoffs.prepare(platform, params.app, name)
    except oneoffs.NothingToRun as exc:
        raise conflict(str(exc)) from None
    argv = ["/bin/sh", "-c", params.command[0]] if len(params.command) == 1 else params.command
    shown = platform.mask(params.app, shlex.join(params.command))
    caller.audit_detail = f"{name}: {shown}"
    await core.bus.publish(
        EventType.APP_RUN,
        f"{caller.name} runs `{shown}` as {name} (v{one.number})",
        app=params.app,
        actor=caller.name,
        data={"process": name, "release": one.number, "detached": params.detach},
    )
    started = RunStarted(process=name, release=one.number, handoff=None)
    if params.detach:
        try:
            await oneoffs.detached(platform, one, argv)
        except oneoffs.NothingToRun as exc:
            raise conflict(str(exc)) from None
        return started, _nothing()
    handoff = Handoff.open(platform.paths.socket.parent / "handoff", caller.peer_uid)

    async def ended() -> AsyncIterator[RunEnded]:
        try:
            status = await oneoffs.attached(platform, one, argv, handoff)
        except HandoffError as exc:
            yield RunEnded(status=None, error=str(exc))
            return
        except OSError as exc:
            yield RunEnded(status=None, error=f"could not start {argv[0]}: {exc.strerror}")
            return
        finally:
            handoff.close()
        yield RunEnded(status=status)

    return started.model_copy(update={"handoff": str(handoff.path)}), ended()


async def _nothing() -> AsyncIterator[RunEnded]:
    return
    yield
