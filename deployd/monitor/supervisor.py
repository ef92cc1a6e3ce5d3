"""The crash watcher and the live health monitor, one process at a time.

Every tick it looks at every process of every live slot. A process that is gone (any exit
code, any signal, adopted or our own child) is a crash: it is recorded, and either that
process is restarted alone with back-off (the slot stays live: its other web processes
keep serving, nginx passes over the dead one) or, for a release that crash-loops right
after going live, a rollback job is queued. Web processes are also probed with their
health check; K failures in a row are treated like a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from deployd import httpcheck
from deployd.build.artifacts import is_built
from deployd.domain import healing
from deployd.domain.healing import Watch
from deployd.domain.lifecycle import JobKind, ReleaseStatus
from deployd.domain.logline import parse_line
from deployd.domain.manifest import Manifest
from deployd.domain.retention import ReleaseRef, rollback_target
from deployd.domain.slots import SlotState
from deployd.engine import slots
from deployd.engine.building import artifact_dir
from deployd.engine.health import Unhealthy, wait_healthy
from deployd.engine.platform import Platform
from deployd.protocol.events import EventType
from deployd.runtime import logs
from deployd.runtime.base import StartError
from deployd.store import apps as app_store
from deployd.store import crashes as crash_store
from deployd.store import jobs as job_store
from deployd.store import processes as process_store
from deployd.store import releases as release_store
from deployd.store.apps import SlotRow
from deployd.store.processes import ProcessRow
from deployd.store.releases import ReleaseRow

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
TAIL_LINES = 5
Key = tuple[str, str, str]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the process is gone"
    if code < 0:
        return f"killed by signal {-code}"
    if 128 < code < 160:  # a shell reports its command's signal this way
        return f"exited with status {code} (signal {code - 128})"
    return f"exited with status {code}"


def _key(proc: ProcessRow) -> Key:
    return (proc.app, proc.slot, str(proc.name))


class Supervisor:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._busy: set[Key] = set()
        """Processes with a restart or probe under way, so a tick never starts a second."""
        self._probed_at: dict[Key, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("supervisor tick failed; trying again")
            await asyncio.sleep(TICK_SECONDS)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    def _spawn(self, key: Key, coro: Any) -> None:
        self._busy.add(key)
        task = asyncio.create_task(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._busy.discard(key)

        task.add_done_callback(done)

    async def tick(self) -> None:
        async with self.platform.pool.connection() as conn:
            rows = await app_store.all_slots(conn)
            apps = {a.name: a for a in await app_store.list_all(conn)}
            processes = await process_store.of_all(conn)
        live = {
            (row.app, row.name): row
            for row in rows
            if row.state == SlotState.LIVE
            and row.app in apps
            and apps[row.app].live_slot == row.name
            and not apps[row.app].stopped
        }
        now = datetime.now(UTC)
        loop_time = asyncio.get_running_loop().time()
        for proc in processes:
            row = live.get((proc.app, proc.slot))
            key = _key(proc)
            if row is None or key in self._busy:
                continue
            handle = slots.process_handle(proc)
            action = healing.watch(
                alive=self.platform.runtime.alive(handle) if handle is not None else None,
                next_restart_at=proc.next_restart_at,
                now=now,
                web=proc.port is not None,
                probe_due=loop_time >= self._probed_at.get(key, 0.0),
            )
            if action is Watch.RESTART:
                self._spawn(key, self._restart(row, proc))
            elif action is Watch.CRASHED and handle is not None:
                code = self.platform.runtime.exit_status(handle)
                self._spawn(key, self._crashed(row, proc, _describe_exit(code)))
            elif action is Watch.PROBE:
                self._spawn(key, self._probe(row, proc))

    async def _manifest(self, release_id: int) -> tuple[Manifest, ReleaseRow]:
        async with self.platform.pool.connection() as conn:
            release = await release_store.get(conn, release_id)
        assert release is not None
        return release.built_manifest(), release

    async def _probe(self, row: SlotRow, proc: ProcessRow) -> None:
        assert proc.port is not None and proc.release_id is not None
        manifest, _ = await self._manifest(proc.release_id)
        key = _key(proc)
        self._probed_at[key] = asyncio.get_running_loop().time() + manifest.health.live_interval
        young = datetime.now(UTC) - proc.started_at < timedelta(seconds=manifest.health.timeout)
        if young and self.platform.lock(proc.app).locked():
            return  # a job (a scale, a restart) started it and is checking it
        content = manifest.health.content
        try:
            reply = await httpcheck.get(
                proc.port, manifest.health.path, timeout=2.0, body=content is not None
            )
            failed, detail = not 200 <= reply.status < 400, f"HTTP {reply.status}"
            if content is not None and content.encode() not in reply.body:
                failed, detail = True, f"HTTP {reply.status} without the expected content"
        except (OSError, TimeoutError) as exc:
            failed, detail = True, f"{type(exc).__name__}: {exc}"
        async with self.platform.pool.connection() as conn:
            failures = await process_store.count_health_failure(
                conn, proc.app, proc.slot, proc.name, failed
            )
        if healing.failed_too_often(failures):
            await self._stop(row, proc, manifest.stop_timeout)
            await self._crashed(
                row, proc, f"failed {failures} live health checks in a row (last: {detail})"
            )

    async def _stop(self, row: SlotRow, proc: ProcessRow, timeout: float) -> None:
        handle = slots.process_handle(proc)
        runtime = self.platform.runtimes[row.runtime]
        await runtime.stop(proc.app, proc.slot, str(proc.name), [handle] if handle else [], timeout)

    async def _crashed(self, row: SlotRow, proc: ProcessRow, reason: str) -> None:
        platform, app = self.platform, proc.app
        release_id = proc.release_id
        assert release_id is not None
        await self._stop(row, proc, 1.0)  # what the process left behind (its shell's children)
        up_for = datetime.now(UTC) - proc.started_at
        tail = await asyncio.to_thread(
            logs.tail, slots.log_file(platform, app), TAIL_LINES, _lines_of(proc)
        )
        async with platform.pool.connection() as conn:
            current = {str(p.name): p for p in await process_store.of_slot(conn, app, proc.slot)}
        now = current.get(str(proc.name))
        if now is None or (now.pid, now.pid_started_at) != (proc.pid, proc.pid_started_at):
            return  # a deploy, a scale or the reconciler got there first
        async with platform.pool.connection() as conn:
            await crash_store.record(
                conn,
                app=app,
                release_id=release_id,
                slot=proc.slot,
                reason=reason,
                process=str(proc.name),
            )
            crash_times = await crash_store.times(conn, release_id)
            releases = await release_store.for_app(conn, app, limit=1000)
        release = next(r for r in releases if r.id == release_id)
        previous = self._previous(releases, release_id)
        plan = healing.after_crash(
            proc.restarts, up_for, crash_times, release.live_at, previous is not None
        )
        delay = plan.restart_in
        async with platform.pool.connection() as conn:
            await process_store.crashed(
                conn,
                app,
                proc.slot,
                proc.name,
                restarts=plan.restarts,
                next_restart_at=datetime.now(UTC) + timedelta(seconds=delay),
                last_exit=reason,
            )
        if (
            plan.verdict.rollback
            and previous is not None
            and await self._roll_back(row, release, previous, plan.verdict.reason)
        ):
            return
        await platform.emit(
            EventType.APP_CRASHED,
            f"{proc.name} of v{release.version} {reason}; restarting in {delay:g}s",
            app,
            release=release.version,
            slot=proc.slot,
            process=str(proc.name),
            reason=reason,
            restart_in=delay,
            restarts=plan.restarts,
            verdict=plan.verdict.reason,
            last_lines=tail,
        )

    def _previous(self, releases: list[ReleaseRow], release_id: int) -> ReleaseRow | None:
        """The kept release a crash-looping `release_id` rolls back to, if any."""
        refs = [
            ReleaseRef(
                r.id,
                r.build_key,
                r.live_at is not None and r.status != ReleaseStatus.CRASHLOOPING,
            )
            for r in releases
        ]
        target = rollback_target(refs, release_id)
        if target is None or target.build_key is None:
            return None
        artifact = artifact_dir(self.platform, releases[0].app, target.build_key)
        if not is_built(artifact):
            return None
        return next(r for r in releases if r.id == target.id)

    async def _roll_back(
        self, row: SlotRow, release: ReleaseRow, to: ReleaseRow, reason: str
    ) -> bool:
        platform, app = self.platform, row.app
        async with platform.pool.connection() as conn:
            try:
                job = await job_store.enqueue(
                    conn,
                    app=app,
                    kind=JobKind.ROLLBACK,
                    params={"to": to.id, "reason": reason, "from": release.id},
                    actor="deployd",
                )
            except job_store.AppBusy:
                return False  # a job is under way; restart meanwhile
            await release_store.update(
                conn, release.id, status=ReleaseStatus.CRASHLOOPING, error=reason
            )
        await platform.emit(
            EventType.APP_CRASHLOOPING,
            f"v{release.version} {reason}: rolling back to v{to.version}",
            app,
            release=release.version,
            to=to.version,
            job=job.id,
        )
        platform.wake_jobs()
        return True

    async def _restart(self, row: SlotRow, proc: ProcessRow) -> None:
        """Start one crashed process again, in the same live slot, on the same port."""
        platform, app = self.platform, proc.app
        async with platform.lock(app):  # the reconciler never sees it half-started
            slot = (await slots.load(platform, app)).get(proc.slot)
            async with platform.pool.connection() as conn:
                now = {str(p.name): p for p in await process_store.of_slot(conn, app, proc.slot)}
            current = now.get(str(proc.name))
            if (
                slot is None
                or slot.state != SlotState.LIVE
                or current is None
                or current.pid is not None
                or current.release_id != proc.release_id
            ):
                return  # a deploy, a scale or a deletion moved on while we waited
            assert proc.release_id is not None
            manifest, release = await self._manifest(proc.release_id)
            artifact = artifact_dir(platform, app, str(release.build_key))
            counted = await slots.counts(platform, app, manifest)
            try:
                started = await slots.launch(
                    platform,
                    slot,
                    release,
                    manifest,
                    artifact,
                    counted,
                    only=proc.name,
                    restarts=proc.restarts,
                )
            except StartError as exc:  # its port taken, say: try again later
                await self._failed_restart(proc, str(exc))
                return
        if not started:  # scaled down meanwhile: it is not wanted any more
            async with platform.pool.connection() as conn:
                await process_store.forget(conn, app, proc.slot, proc.name)
            return
        one = started[0]
        if one.port is not None:
            checked = replace(slot, runtime=release.runtime)
            try:
                await wait_healthy(
                    platform.runtime,
                    one.handle,
                    one.port,
                    manifest.health,
                    slots.strangers(platform, checked, str(one.name), one.handle, one.port),
                    what=str(one.name),
                )
            except Unhealthy as exc:
                restarted = replace(proc, pid=one.handle.pid, pid_started_at=one.handle.started_at)
                await self._stop(checked, restarted, manifest.stop_timeout)
                await self._failed_restart(proc, str(exc))
                return
        await platform.emit(
            EventType.APP_RESTARTED,
            f"{proc.name} of v{proc.release} runs again",
            app,
            release=proc.release,
            slot=proc.slot,
            process=str(proc.name),
            restarts=proc.restarts,
        )

    async def _failed_restart(self, proc: ProcessRow, reason: str) -> None:
        """A restart that never became healthy counts as one more crash."""
        assert proc.release_id is not None
        async with self.platform.pool.connection() as conn:
            await crash_store.record(
                conn,
                app=proc.app,
                release_id=proc.release_id,
                slot=proc.slot,
                reason=reason,
                process=str(proc.name),
            )
            plan = healing.after_failed_restart(proc.restarts)
            delay = plan.restart_in
            await process_store.crashed(
                conn,
                proc.app,
                proc.slot,
                proc.name,
                restarts=plan.restarts,
                next_restart_at=datetime.now(UTC) + timedelta(seconds=delay),
                last_exit=reason,
            )
        await self.platform.emit(
            EventType.APP_CRASHED,
            f"restarting {proc.name} failed: {reason}; next try in {delay:g}s",
            proc.app,
            release=proc.release,
            slot=proc.slot,
            process=str(proc.name),
            restart_in=delay,
        )


def _lines_of(proc: ProcessRow) -> Callable[[str], bool]:
    """Keeps the log lines of this process of this release."""

    def keep(line: str) -> bool:
        parsed = parse_line(line)
        return parsed is not None and (parsed.source, parsed.release) == (
            str(proc.name),
            proc.release,
        )

    return keep
