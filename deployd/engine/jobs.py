"""The job runner: claims queued jobs from PostgreSQL and runs them, one per app at a time
(the database enforces it), different apps in parallel up to `max_jobs`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
import psycopg_pool

from deployd.domain.lifecycle import JobKind
from deployd.protocol.events import EventType
from deployd.store import apps as app_store
from deployd.store import jobs as store
from deployd.store.jobs import JobRow
from deployd.vault.keyring import VaultKeyError

from . import github_hooks, pipeline, processes
from .building import DeployFailed
from .platform import Platform

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
WATCH_GRACE = 1.0
"""Seconds a job someone asked for waits for its watcher (`deployctl deploy` watches right
after it starts one): its first output lines are streamed live, never lost in between."""
UNWATCHED = frozenset({"deployd", github_hooks.ACTOR})
"""Actors whose jobs start at once: the daemon's own (a crash-loop rollback) and a webhook's
(GitHub does not watch)."""
RUNS = {
    JobKind.DEPLOY: pipeline.deploy,
    JobKind.ROLLBACK: pipeline.rollback,
    JobKind.CONFIG: pipeline.reconfigure,
    JobKind.SCALE: processes.scale,
    JobKind.RESTART: processes.restart,
    JobKind.STOP: processes.stop,
    JobKind.START: processes.start,
    JobKind.MIGRATE: processes.migrate,
}


class JobRunner:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.owned: set[int] = set()
        """Ids of the jobs this runner is executing now."""
        self._watchers: dict[int, asyncio.Event] = {}
        platform.wake_jobs = self.wake

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="job-runner")

    def wake(self) -> None:
        self._wake.set()

    def watched(self, job_id: int) -> None:
        """A watcher of the job is subscribed: it may start."""
        self._watchers.setdefault(job_id, asyncio.Event()).set()

    async def _wait_for_watcher(self, row: JobRow) -> None:
        if row.actor in UNWATCHED:  # nobody is there to watch them
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._watchers.setdefault(row.id, asyncio.Event()).wait(), WATCH_GRACE
            )

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=15)
        drains = list(self.platform.drains.values())
        if drains:  # let the grace periods run out: stopping now would cut requests short
            await asyncio.wait(drains, timeout=30)

    async def _run(self) -> None:
        while True:
            try:
                while len(self._tasks) < self.platform.settings.max_jobs:
                    async with self.platform.pool.connection() as conn:
                        job = await store.claim_next(conn)
                    if job is None:
                        break
                    self.owned.add(job.id)
                    task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            except Exception:
                log.exception("the job runner could not claim a job; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _execute(self, row: JobRow) -> None:
        platform = self.platform
        error: str | None = None
        job: pipeline.Job | None = None
        try:
            async with platform.pool.connection() as conn:
                app = await app_store.get(conn, row.app)
            if app is None:
                raise DeployFailed("the app was deleted")
            job = pipeline.Job(platform, row, app)
            await self._wait_for_watcher(row)
            await platform.emit(
                EventType.DEPLOY_STARTED,
                f"{row.kind} job {row.id} started",
                row.app,
                job=row.id,
                kind=row.kind,
            )
            async with platform.lock(row.app):  # the reconciler keeps off meanwhile
                await RUNS[JobKind(row.kind)](job)
        except (DeployFailed, VaultKeyError) as exc:
            error = self.platform.mask(row.app, str(exc))
        except asyncio.CancelledError:
            error = "interrupted: the daemon is shutting down"
            job = None  # the next daemon's reconciler finishes or aborts it, and says so
        except Exception:
            log.exception("job %s failed unexpectedly", row.id)
            error = "internal error; the daemon log has details"
        if error is not None and job is not None:
            with contextlib.suppress(psycopg.Error, psycopg_pool.PoolTimeout):
                await asyncio.shield(job.failed(error))
        try:
            await asyncio.shield(self._finish(row, error))
        finally:
            self.owned.discard(row.id)
            self._watchers.pop(row.id, None)

    async def _finish(self, row: JobRow, error: str | None) -> None:
        """Record the outcome, waiting out a database outage: a job that ended must never
        stay `running` (that would lock its app until the next daemon start)."""
        error = self.platform.mask(row.app, error) if error else None
        delay = 0.5
        while True:
            try:
                async with self.platform.pool.connection() as conn:
                    await store.finish(conn, row.id, error=error)
                break
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
                log.warning("cannot record the end of job %s yet; retrying", row.id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        kind = EventType.DEPLOY_FAILED if error else EventType.DEPLOY_SUCCEEDED
        message = error or f"{row.kind} job {row.id} finished"
        await self.platform.emit(kind, message, row.app, job=row.id)
