"""The crash watcher and the live health monitor.

Every tick it looks at all live slots. A live process that is gone (any exit code, any
signal, adopted or our own child) is a crash: the slot goes `crashed`, the crash is
recorded, and either a restart is scheduled with back-off or, for a release that
crash-loops right after going live, a rollback job is queued. Live slots are also probed
with their health check; K failures in a row are treated like a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from deployd import httpcheck
from deployd.build.artifacts import is_built
from deployd.domain import healing
from deployd.domain.manifest import Manifest
from deployd.domain.retention import ReleaseRef, rollback_target
from deployd.domain.slots import SlotEvent, SlotState
from deployd.engine import slots
from deployd.engine.building import artifact_dir
from deployd.engine.health import Unhealthy, wait_healthy
from deployd.engine.platform import Platform
from deployd.runtime import logs
from deployd.runtime.base import StartError
from deployd.store import apps as app_store
from deployd.store import crashes as crash_store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store.db import Row

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
TAIL_LINES = 5


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the process is gone"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exited with status {code}"


class Supervisor:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._busy: set[tuple[str, str]] = set()
        """Slots with a restart or probe under way, so a tick never starts a second one."""
        self._probed_at: dict[tuple[str, str], float] = {}
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

    def _spawn(self, key: tuple[str, str], coro: Any) -> None:
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
            live_slots = {a["name"]: a["live_slot"] for a in await app_store.list_all(conn)}
        now = datetime.now(UTC)
        loop_time = asyncio.get_running_loop().time()
        for row in rows:
            key = (row["app"], row["name"])
            if key in self._busy or live_slots.get(row["app"]) != row["name"]:
                continue
            state = SlotState(row["state"])
            if state is SlotState.LIVE:
                handle = slots.handle_of(row)
                if handle is None or not self.platform.runtime.alive(handle):
                    code = self.platform.runtime.exit_status(handle) if handle else None
                    self._spawn(key, self._crashed(row, _describe_exit(code)))
                elif loop_time >= self._probed_at.get(key, 0.0):
                    self._spawn(key, self._probe(row))
            elif state in (SlotState.CRASHED, SlotState.FAILED) and (
                row["next_restart_at"] is not None and row["next_restart_at"] <= now
            ):
                self._spawn(key, self._restart(row))

    async def _manifest(self, release_id: int) -> tuple[Manifest, Row]:
        async with self.platform.pool.connection() as conn:
            release = await release_store.get(conn, release_id)
        assert release is not None
        return Manifest.from_json(release["manifest"]), release

    async def _probe(self, row: Row) -> None:
        manifest, _ = await self._manifest(row["release_id"])
        key = (row["app"], row["name"])
        self._probed_at[key] = asyncio.get_running_loop().time() + manifest.health.live_interval
        content = manifest.health.content
        try:
            reply = await httpcheck.get(
                row["port"], manifest.health.path, timeout=2.0, body=content is not None
            )
            failed, detail = not 200 <= reply.status < 400, f"HTTP {reply.status}"
            if content is not None and content.encode() not in reply.body:
                failed, detail = True, f"HTTP {reply.status} without the expected content"
        except (OSError, TimeoutError) as exc:
            failed, detail = True, f"{type(exc).__name__}: {exc}"
        async with self.platform.pool.connection() as conn:
            failures = await app_store.count_health_failure(conn, row["app"], row["name"], failed)
        if failures >= healing.HEALTH_FAILURES_TO_RESTART:
            await slots.stop_process(self.platform, row, manifest.stop_timeout)
            await self._crashed(
                row, f"failed {failures} live health checks in a row (last: {detail})"
            )

    async def _crashed(self, row: Row, reason: str) -> None:
        platform, app = self.platform, row["app"]
        release_id = row["release_id"]
        up_for = datetime.now(UTC) - row["changed_at"] if row["changed_at"] else None
        tail = await asyncio.to_thread(
            logs.tail, slots.log_file(platform, app, row["name"]), TAIL_LINES
        )
        try:
            row = await slots.transition(platform, app, row, SlotEvent.CRASH)
        except slots.StaleSlot:
            return  # a deploy or the reconciler got there first
        async with platform.pool.connection() as conn:
            await crash_store.record(
                conn, app=app, release_id=release_id, slot=row["name"], reason=reason
            )
            crash_times = await crash_store.times(conn, release_id)
            releases = await release_store.for_app(conn, app, limit=1000)
        release = next(r for r in releases if r["id"] == release_id)
        previous = self._previous(releases, release_id)
        verdict = healing.judge(crash_times, release["live_at"], previous is not None)
        if (
            verdict.rollback
            and previous is not None
            and await self._roll_back(row, previous, verdict.reason)
        ):
            return
        restarts = healing.restarts_after_crash(row["restarts"], up_for)
        delay = healing.backoff(restarts)
        async with platform.pool.connection() as conn:
            await app_store.save_healing(
                conn,
                app,
                row["name"],
                restarts=restarts + 1,
                next_restart_at=datetime.now(UTC) + timedelta(seconds=delay),
                last_exit=reason,
            )
        await platform.emit(
            "app.crashed",
            f"release {release_id} {reason}; restarting in {delay:g}s",
            app,
            release=release_id,
            slot=row["name"],
            reason=reason,
            restart_in=delay,
            restarts=restarts + 1,
            verdict=verdict.reason,
            last_lines=tail,
        )

    def _previous(self, releases: list[Row], release_id: int) -> int | None:
        refs = [
            ReleaseRef(
                r["id"], r["build_key"], r["live_at"] is not None and r["status"] != "crashlooping"
            )
            for r in releases
        ]
        target = rollback_target(refs, release_id)
        if target is None or target.build_key is None:
            return None
        artifact = artifact_dir(self.platform, releases[0]["app"], target.build_key)
        return target.id if is_built(artifact) else None

    async def _roll_back(self, row: Row, to: int, reason: str) -> bool:
        platform, app = self.platform, row["app"]
        async with platform.pool.connection() as conn:
            try:
                job = await job_store.enqueue(
                    conn,
                    app=app,
                    kind="rollback",
                    params={"to": to, "reason": reason, "from": row["release_id"]},
                    actor="deployd",
                )
            except job_store.AppBusy:
                return False  # a job is under way; restart meanwhile
            await release_store.update(conn, row["release_id"], status="crashlooping", error=reason)
        await platform.emit(
            "app.crashlooping",
            f"release {row['release_id']} {reason}: rolling back to release {to}",
            app,
            release=row["release_id"],
            to=to,
            job=job["id"],
        )
        platform.wake_jobs()
        return True

    async def _restart(self, row: Row) -> None:
        platform, app = self.platform, row["app"]
        event = SlotEvent.RESTART if row["state"] == SlotState.CRASHED else SlotEvent.START
        with contextlib.suppress(slots.StaleSlot):
            async with platform.lock(app):  # the reconciler never sees it half-started
                now = (await slots.load(platform, app)).get(row["name"])
                if now is None or (now["state"], now["changed_at"]) != (
                    row["state"],
                    row["changed_at"],
                ):
                    return  # deleted, or moved by a deploy while we waited for the lock
                manifest, release = await self._manifest(row["release_id"])
                artifact = artifact_dir(platform, app, str(release["build_key"]))
                try:
                    handle = await slots.launch(platform, row, release, manifest, artifact)
                except StartError as exc:  # its port taken, say: try again later
                    await self._failed_restart(row, str(exc))
                    return
                try:
                    row = await slots.transition(
                        platform, app, row, event, release_id=row["release_id"], handle=handle
                    )
                except slots.StaleSlot:
                    await platform.runtimes[release["runtime"]].stop(
                        app, row["name"], [handle], manifest.stop_timeout
                    )
                    raise
            try:
                await wait_healthy(
                    platform.runtime,
                    handle,
                    row["port"],
                    manifest.health,
                    slots.strangers(platform, {**row, "runtime": release["runtime"]}, handle),
                )
            except Unhealthy as exc:
                await slots.stop_process(platform, row, manifest.stop_timeout)
                row = await slots.transition(platform, app, row, SlotEvent.FAILED)
                await self._failed_restart(row, str(exc))
                return
            row = await slots.transition(platform, app, row, SlotEvent.PASSED)
            await slots.transition(platform, app, row, SlotEvent.PROMOTE)
            async with platform.pool.connection() as conn:
                await app_store.save_healing(
                    conn,
                    app,
                    row["name"],
                    restarts=row["restarts"],
                    next_restart_at=None,
                    last_exit=row["last_exit"],
                )
            await platform.emit(
                "app.restarted",
                f"release {row['release_id']} serves again",
                app,
                release=row["release_id"],
                slot=row["name"],
                restarts=row["restarts"],
            )

    async def _failed_restart(self, row: Row, reason: str) -> None:
        """A restart that never became healthy counts as one more crash."""
        async with self.platform.pool.connection() as conn:
            await crash_store.record(
                conn, app=row["app"], release_id=row["release_id"], slot=row["name"], reason=reason
            )
        delay = healing.backoff(row["restarts"])
        async with self.platform.pool.connection() as conn:
            await app_store.save_healing(
                conn,
                row["app"],
                row["name"],
                restarts=row["restarts"] + 1,
                next_restart_at=datetime.now(UTC) + timedelta(seconds=delay),
                last_exit=reason,
            )
        await self.platform.emit(
            "app.crashed",
            f"restart failed: {reason}; next try in {delay:g}s",
            row["app"],
            release=row["release_id"],
            slot=row["name"],
            restart_in=delay,
        )
