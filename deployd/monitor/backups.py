"""Scheduled backups, run by the daemon itself (no cron to stop silently): each tick
backs up the databases whose scheduled time has come, prunes their scheduled backups
beyond `keep`, and says once when a database has had no verified backup for twice its
schedule's interval. The clock is injected, so tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from deployd.domain import databases as rules
from deployd.engine import databases as engine
from deployd.engine import offsite
from deployd.engine.platform import Platform
from deployd.postgres.server import ServerUnavailable
from deployd.protocol.events import EventType
from deployd.store import databases as store
from deployd.store import remote as remote_store
from deployd.store.databases import BackupStatus, BackupTrigger, DatabaseRow

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0
USAGE_EVERY = 10
"""Ticks between two records of every database's size and connections (5 minutes)."""


class BackupScheduler:
    def __init__(
        self, platform: Platform, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.platform = platform
        self.clock = clock
        self._overdue: set[str] = set()
        """Databases already said to be overdue (said again once a backup verifies)."""
        self._ticks = 0
        self._deletes: dict[int, tuple[int, datetime]] = {}
        """Copies of pruned backups whose deletion failed: the tries, and when the next is
        due (in memory: after a restart they are tried at once)."""

    async def run(self) -> None:
        """The loop; `recover` runs first, before the daemon takes calls."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("backup scheduler tick failed; trying again")
            await asyncio.sleep(TICK_SECONDS)

    async def recover(self) -> None:
        """Backups a stopped daemon left half-made: failed, saying so, their partial files
        removed (the verified ones beside them are untouched)."""
        async with self.platform.pool.connection() as conn:
            failed = await store.fail_unfinished(conn)
            await remote_store.fail_unfinished(conn)
        if failed:
            log.warning("%d backups were under way when the daemon stopped: failed", failed)
        await asyncio.to_thread(_remove_partials, self.platform.paths.backups_dir)
        async with self.platform.pool.connection() as conn:
            names = [db.name for db in await store.list_all(conn)]
        if not names:
            return
        try:
            repaired = await self.platform.databases.repair(names)
        except ServerUnavailable as exc:
            log.warning("cannot check the apps' databases after a restart: %s", exc)
            return
        for what in repaired:
            log.warning("after a restore the daemon stopped in: %s", what)

    async def tick(self) -> list[int]:
        """One look at every schedule; returns the backups it made (verified or failed)."""
        async with self.platform.pool.connection() as conn:
            databases = await store.list_all(conn)
            last = await store.last_backups(conn)
        if self._ticks % USAGE_EVERY == 0 and databases:
            await self._record_usage(databases)
        self._ticks += 1
        made: list[int] = []
        now = self.clock()
        for db in databases:
            if db.schedule is None or db.schedule_set_at is None:
                continue
            if rules.due(db.schedule, db.schedule_last_run, db.schedule_set_at, now):
                made.append(await self._run(db, db.schedule.previous_run(now)))
                async with engine.held(self.platform, db.name):  # never under a restore
                    await self._prune(db)
            verified = last.get(db.name, {}).get("verified")
            await self._watch_overdue(db, verified, now)
        await self._retry_remote(now)
        return made

    async def _retry_remote(self, now: datetime) -> None:
        """Copies off the host that failed, when their next try is due; and copies of
        pruned backups whose deletion failed."""
        async with self.platform.pool.connection() as conn:
            failed = await remote_store.failed_copies(conn)
            orphans = await remote_store.orphaned_copies(conn)
        for copy in failed:
            again = rules.copy_retry_at(copy.attempts, copy.finished_at or copy.started_at)
            if again is None or again > now:
                continue
            async with self.platform.pool.connection() as conn:
                backup = await store.backup(conn, copy.backup_id)
            if backup is None:
                continue
            local = engine.backup_file(self.platform, backup)
            if await asyncio.to_thread(local.exists):
                async with engine.held(self.platform, backup.database):
                    await offsite.copy(self.platform, backup, local)
        self._deletes = {k: v for k, v in self._deletes.items() if k in orphans}
        for backup_id in orphans:
            tries, due_at = self._deletes.get(backup_id, (0, now))
            if due_at > now:
                continue
            async with self.platform.pool.connection() as conn:
                backup = await store.backup(conn, backup_id)
            if backup is None:
                continue
            if await offsite.delete(self.platform, backup):
                self._deletes.pop(backup_id, None)
            else:
                self._deletes[backup_id] = (tries + 1, now + rules.retry_delay(tries + 1))

    async def _run(self, db: DatabaseRow, scheduled_for: datetime) -> int:
        async with self.platform.pool.connection() as conn:  # first: never twice for one time
            await store.ran_schedule(conn, db.name, scheduled_for)
        try:
            done = await engine.backup(self.platform, db.name, BackupTrigger.SCHEDULED, None)
        except engine.BackupFailed as failed:  # recorded and announced by the engine
            return failed.backup
        self._overdue.discard(db.name)
        return done.id

    async def _prune(self, db: DatabaseRow) -> None:
        """Scheduled backups beyond the schedule's `keep` go, oldest first; backups made by
        hand (or before a drop) stay until removed by hand."""
        assert db.schedule is not None
        async with self.platform.pool.connection() as conn:
            rows = await store.backups(conn, db.name)
        kept = [
            (b.id, b.finished_at or b.started_at)
            for b in rows
            if b.trigger is BackupTrigger.SCHEDULED and b.status is BackupStatus.VERIFIED
        ]
        doomed = rules.to_prune(kept, db.schedule.keep)
        if not doomed:
            return
        for row in rows:
            if row.id in doomed:
                await asyncio.to_thread(
                    engine.backup_file(self.platform, row).unlink, missing_ok=True
                )
                await offsite.delete(self.platform, row)
        async with self.platform.pool.connection() as conn:
            await store.mark_deleted(conn, doomed)

    async def _watch_overdue(
        self, db: DatabaseRow, verified: datetime | None, now: datetime
    ) -> None:
        assert db.schedule is not None and db.schedule_set_at is not None
        if not rules.overdue(db.schedule, verified, db.schedule_set_at, now):
            self._overdue.discard(db.name)
            return
        if db.name in self._overdue:
            return
        self._overdue.add(db.name)
        since = f"since {verified:%Y-%m-%d %H:%M} UTC" if verified else "ever"
        await self.platform.bus.publish(
            EventType.DB_BACKUP_OVERDUE,
            f"{db.name} has had no verified backup {since}: its schedule is "
            f"{db.schedule.describe()}",
            actor="deployd",
            data={"database": db.name},
        )

    async def _record_usage(self, databases: list[DatabaseRow]) -> None:
        """Size and connections of each database, kept as a series."""
        try:
            usage = await self.platform.databases.usage()
        except ServerUnavailable as exc:
            log.warning("cannot measure the apps' databases: %s", exc)
            return
        async with self.platform.pool.connection() as conn:
            for db in databases:
                if db.name in usage:
                    found = usage[db.name]
                    await store.record_usage(conn, db.name, found.size_bytes, found.connections)
            await store.thin_sizes(conn)


def _remove_partials(backups: Path) -> None:
    if backups.is_dir():
        for pattern in ("*/.*.partial", "*/.*.fetched", "*/.*.download"):
            for partial in backups.glob(pattern):
                partial.unlink(missing_ok=True)
