"""The ingester: follows each app's nginx access log and turns its lines into rollups.

A pass reads each log from its checkpoint (device, inode, offset) in batches that end on
a line's end, folds the lines into per-minute rollups (`domain/traffic.ingest`, in a
thread: it is CPU work), and saves the rollups of minute, hour and day with the new
checkpoint in one transaction: a crash or a restart never counts a line twice or loses
one. A log rotated away (renamed, then reopened by nginx) is finished from its rotated
name before the new file is read; a truncated one is read again from its start. Passes are
woken by `watchfiles`, with an interval as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import psycopg_pool
from watchfiles import awatch

from deployd.domain import traffic as rules
from deployd.domain.apps import APP_NAME
from deployd.engine.platform import Platform
from deployd.engine.readings import TrafficPass
from deployd.store import traffic as store
from deployd.store.traffic import Checkpoint, Period

log = logging.getLogger(__name__)

BATCH_BYTES = 8 * 1024 * 1024
"""At most this much of a log per transaction (about 40,000 lines)."""
FALLBACK_SECONDS = 5.0
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Chunk:
    lines: list[str]
    mark: Checkpoint
    """Where the next read starts."""
    more: bool
    """A full batch was read: there may be more right away."""


def read_chunk(path: Path, app: str, mark: Checkpoint | None, limit: int = BATCH_BYTES) -> Chunk:
    """The next whole lines of `path` after `mark` (blocking: in a thread)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return Chunk([], mark or Checkpoint(str(path), app, 0, 0, 0), False)
    if mark is not None and (now.st_dev, now.st_ino) != (mark.device, mark.inode):
        rotated = path.with_name(path.name + ".1")
        with contextlib.suppress(FileNotFoundError):
            before = os.stat(rotated)
            if (before.st_dev, before.st_ino) == (mark.device, mark.inode):
                chunk = _read(rotated, mark.offset, limit)
                if chunk is not None and chunk[0]:
                    lines, offset = chunk
                    return Chunk(lines, _moved(mark, offset), True)
        mark = None  # finished (or lost) the old file: the new one from its start
    start = mark.offset if mark is not None else 0
    if start > now.st_size:  # truncated
        start = 0
    read = _read(path, start, limit)
    if read is None:
        return Chunk([], mark or Checkpoint(str(path), app, now.st_dev, now.st_ino, 0), False)
    lines, offset = read
    mark = Checkpoint(str(path), app, now.st_dev, now.st_ino, offset)
    return Chunk(lines, mark, offset - start >= limit - 65536)


def _moved(mark: Checkpoint, offset: int) -> Checkpoint:
    return Checkpoint(mark.path, mark.app, mark.device, mark.inode, offset)


def _read(path: Path, start: int, limit: int) -> tuple[list[str], int] | None:
    """Whole lines from `start`: the bytes up to the last newline within `limit`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, OSError):
        return None
    with os.fdopen(fd, "rb") as source:
        source.seek(start)
        data = source.read(limit)
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) >= limit:  # one line longer than a batch: skip it, counted unparsed
            return ["\x00"], start + len(data)
        return [], start
    text = data[:end].decode("utf-8", errors="replace")  # nginx escapes every other newline
    return text.split("\n"), start + end + 1


class TrafficIngester:
    def __init__(self, platform: Platform, clock: Callable[[], datetime] | None = None) -> None:
        self.platform = platform
        self.clock = clock or (lambda: datetime.now(UTC))
        self._pruned_at: datetime | None = None
        self._salts_of: tuple[date, dict[int, bytes]] | None = None
        self._passed_at: float | None = None
        """When the last pass that went through started (`time.monotonic()`)."""
        self._requests = 0
        self._errors = 0
        """Saved since the daemon started, across every app: a pass's are the difference."""

    @property
    def directory(self) -> Path:
        return self.platform.nginx.access_logs

    async def run(self) -> None:
        await self._safely(self.pass_once)
        async for _ in self._wakeups():
            await self._safely(self.pass_once)

    async def _safely(self, work: Callable[[], Awaitable[object]]) -> None:
        try:
            await work()
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("analytics wait for the database: %s", exc)  # resumes from checkpoints
        except Exception:
            log.exception("the access-log ingester failed; trying again")

    async def _wakeups(self) -> AsyncGenerator[None, None]:
        """A change in the logs' directory, or the fallback interval.

        The watcher itself says when the interval passed (`yield_on_timeout`): cancelling
        a pending `anext()` from outside would end the watcher, and every later pass would
        wait for the interval, however busy the logs."""
        while True:
            try:
                async for _ in awatch(
                    self.directory,
                    debounce=200,
                    step=100,
                    recursive=False,
                    rust_timeout=int(FALLBACK_SECONDS * 1000),
                    yield_on_timeout=True,
                ):
                    yield None
            except OSError as exc:  # the directory is missing or unreadable: use the interval
                log.debug("cannot watch %s: %s", self.directory, exc)
            await asyncio.sleep(FALLBACK_SECONDS)
            yield None

    async def pass_once(self) -> int:
        """Read every app's log as far as it goes; returns the lines read."""
        started, before = time.monotonic(), (self._requests, self._errors)
        read = 0
        for path in sorted(await asyncio.to_thread(self._logs)):
            read += await self.ingest(path.stem, path)
        self._passed(started, before)
        await self._prune()
        return read

    def _passed(self, started: float, before: tuple[int, int]) -> None:
        """Tell the sampler what this pass read: what came since the pass before started.
        The first pass reads what came while deployd was down, which is no rate."""
        previous, self._passed_at = self._passed_at, started
        if previous is None:
            return
        self.platform.readings.traffic = TrafficPass(
            requests=self._requests - before[0],
            errors=self._errors - before[1],
            seconds=started - previous,
            ended=time.monotonic(),
        )

    async def _prune(self) -> None:
        now = self.clock()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            async with self.platform.pool.connection() as conn:
                settings = self.platform.settings
                await store.prune(
                    conn,
                    now,
                    {
                        Period.MINUTE: timedelta(days=settings.analytics_minutes_days),
                        Period.HOUR: timedelta(days=settings.analytics_hours_days),
                        Period.DAY: timedelta(days=settings.analytics_days_days),
                    },
                )
                capped = await store.cap(conn, self.platform.settings.analytics_max_bytes)
            for app, rows in capped.items():
                log.warning("%s's analytics passed their cap: its %d oldest rows went", app, rows)
            self._pruned_at = now

    def _logs(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [
            p for p in self.directory.glob("*.log") if APP_NAME.fullmatch(p.stem) and p.is_file()
        ]

    async def ingest(self, app: str, path: Path) -> int:
        """Read and fold batch after batch, each saved with its checkpoint in one
        transaction. The next batch is read and folded (a thread) while PostgreSQL saves
        the one before: from where that one ends, which is its checkpoint once saved."""
        total = 0
        async with self.platform.pool.connection() as conn:
            mark = await store.checkpoint(conn, str(path))
        salts = await self._salts()
        chunk, batch = await asyncio.to_thread(self._read_and_fold, path, app, mark, salts)
        while True:
            if mark is not None and chunk.mark == mark:
                await self._rotate_if_big(path, mark)
                return total
            following = None
            if chunk.more:
                salts = await self._salts()
                following = asyncio.ensure_future(
                    asyncio.to_thread(self._read_and_fold, path, app, chunk.mark, salts)
                )
            try:
                await self._save(app, chunk.mark, batch)
            except BaseException:
                if following is not None:  # read again from the checkpoint next time
                    following.cancel()
                raise
            total += len(chunk.lines)
            self._requests += batch.requests
            self._errors += batch.errors
            if following is None:
                return total
            mark, (chunk, batch) = chunk.mark, await following

    def _read_and_fold(
        self, path: Path, app: str, mark: Checkpoint | None, salts: dict[int, bytes]
    ) -> tuple[Chunk, rules.Batch]:
        chunk = read_chunk(path, app, mark)
        return chunk, rules.ingest(chunk.lines, salts, self.platform.nginx.check_token)

    async def _salts(self) -> dict[int, bytes]:
        """Today's and yesterday's visitor salts (made the first time they are asked for),
        asked of PostgreSQL once a day: a day's salt never changes once made."""
        today = self.clock().date()
        if self._salts_of is None or self._salts_of[0] != today:
            async with self.platform.pool.connection() as conn:
                salts = await store.salts(conn, {today - timedelta(days=1), today})
            self._salts_of = (today, {_epoch_day(day): salt for day, salt in salts.items()})
        return self._salts_of[1]

    async def _rotate_if_big(self, path: Path, mark: Checkpoint) -> None:
        """`deployd dev` rotates its nginx's logs itself (production: logrotate): only a
        log read to its end, so the rotated file (`.1`, replacing the one before, which
        was read to its end too) holds no line still to count."""
        limit = self.platform.settings.access_log_max_bytes
        if self.platform.nginx.prefix is None or mark.offset < limit:
            return
        try:
            now = await asyncio.to_thread(os.stat, path)
        except FileNotFoundError:
            return
        if (now.st_dev, now.st_ino, now.st_size) != (mark.device, mark.inode, mark.offset):
            return
        await asyncio.to_thread(os.replace, path, path.with_name(path.name + ".1"))
        await asyncio.to_thread(self.platform.nginx.reopen_logs)

    async def _save(self, app: str, mark: Checkpoint, batch: rules.Batch) -> None:
        async with self.platform.pool.connection() as conn, conn.transaction():
            for period in Period:
                folded = _by_period(batch.minutes, period)
                await store.add(conn, app, period, {at: r.bounded() for at, r in folded.items()})
            await store.save_checkpoint(
                conn, mark, unparsed=batch.unparsed, internal=batch.internal
            )


def _epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _by_period(minutes: dict[int, rules.Rollup], period: Period) -> dict[datetime, rules.Rollup]:
    """The batch's minutes folded into the period's rows (a minute's own, an hour's, a
    day's)."""
    folded: dict[datetime, rules.Rollup] = {}
    for minute, rollup in minutes.items():
        at = period.start(datetime.fromtimestamp(minute, UTC))
        into = folded.get(at)
        if into is None:
            folded[at] = into = rules.Rollup()
        into.merge(rollup)
    return folded
