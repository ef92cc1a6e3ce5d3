"""The host's and apps' use of the machine, sampled every 10 s, streamed to dashboards as
it is sampled (`host.sample`) and kept a row a minute; events when the data disk passes 80 %
and 90 %, and when a release's first ten minutes answer worse than the hour before it went
live."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psutil

from deployd.domain import traffic as rules
from deployd.engine.platform import Platform
from deployd.engine.usage import live_roots
from deployd.protocol.events import EventType, HostSample
from deployd.runtime.usage import measure
from deployd.store import metrics as store
from deployd.store import traffic as traffic_store
from deployd.store.metrics import HostMinute
from deployd.store.traffic import Period

log = logging.getLogger(__name__)

GIB = 1024**3
DISK_LEVELS = (80.0, 90.0)
AFTER_DEPLOY = timedelta(minutes=10)
"""How long a release serves before its traffic is compared with the hour before."""


def describe(sample: HostSample) -> str:
    """The sample in a line, for clients that show events by their message."""
    return (
        f"cpu {sample.cpu_percent:.0f} %, memory {sample.memory_used / GIB:.1f} of "
        f"{sample.memory_total / GIB:.0f} GiB"
    )


def disk_level(percent: float) -> float | None:
    """The highest level passed, if any."""
    passed = [level for level in DISK_LEVELS if percent >= level]
    return passed[-1] if passed else None


class MetricsSampler:
    def __init__(
        self, platform: Platform, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.platform = platform
        self.clock = clock
        self._samples: list[tuple[float, float, float]] = []
        self._minute: datetime | None = None
        self._net = psutil.net_io_counters()
        self._disk_level: float | None = None

    async def run(self) -> None:
        psutil.cpu_percent(None)  # the first reading starts the measure
        while True:
            await asyncio.sleep(self.platform.settings.host_sample_seconds)
            try:
                await self.sample()
            except Exception:
                log.exception("sampling the host failed; trying again")

    async def sample(self) -> None:
        now = self.clock()
        minute = now.replace(second=0, microsecond=0)
        cpu = psutil.cpu_percent(None)
        load = psutil.getloadavg()[0]
        disk = await asyncio.to_thread(shutil.disk_usage, self.platform.paths.data_dir)
        percent = 100.0 * (disk.total - disk.free) / disk.total if disk.total else 0.0
        await self._publish(cpu, load, percent)  # first: it needs no database
        if self._minute is not None and minute != self._minute and self._samples:
            await self._record(self._minute)
            await self.judge_releases(now)
        self._minute = minute
        self._samples.append((cpu, load, percent))
        await self._watch_disk(percent)

    async def _publish(self, cpu: float, load: float, disk: float) -> None:
        """Streamed to dashboards and kept for the next `system.snapshot`; never stored."""
        memory = psutil.virtual_memory()
        traffic = self.platform.readings.traffic
        requests, errors = traffic.rates(time.monotonic()) if traffic else (0.0, 0.0)
        sample = HostSample(
            cpu_percent=round(cpu, 1),
            memory_used=memory.total - memory.available,
            memory_total=memory.total,
            load1=round(load, 2),
            disk_percent=round(disk, 1),
            requests_per_s=round(requests, 2),
            errors_per_s=round(errors, 2),
        )
        self.platform.readings.host = sample
        await self.platform.bus.publish(
            EventType.HOST_SAMPLE, describe(sample), actor="deployd", data=sample.model_dump()
        )

    async def _record(self, minute: datetime) -> None:
        cpu = sum(s[0] for s in self._samples) / len(self._samples)
        load = sum(s[1] for s in self._samples) / len(self._samples)
        disk = self._samples[-1][2]
        self._samples = []
        memory = psutil.virtual_memory()
        net, self._net = self._net, psutil.net_io_counters()
        roots = await live_roots(self.platform)
        usage = await asyncio.to_thread(measure, list(roots.values()), 0.2)
        per_app: dict[str, tuple[float, int]] = {}
        for (app, _slot, _name), root in roots.items():
            found = usage.get(root)
            if found is not None:
                cpu_so_far, rss_so_far = per_app.get(app, (0.0, 0))
                per_app[app] = (cpu_so_far + found.cpu_percent, rss_so_far + found.rss_bytes)
        host = HostMinute(
            at=minute,
            cpu_percent=round(cpu, 1),
            memory_used=memory.total - memory.available,
            memory_total=memory.total,
            load1=round(load, 2),
            disk_percent=round(disk, 1),
            net_sent=self._net.bytes_sent - net.bytes_sent,
            net_received=self._net.bytes_recv - net.bytes_recv,
        )
        async with self.platform.pool.connection() as conn:
            await store.record(conn, host, per_app)
            await store.prune(conn, minute)

    async def _watch_disk(self, percent: float) -> None:
        level = disk_level(percent)
        if level == self._disk_level:
            return
        previous, self._disk_level = self._disk_level, level
        if level is None or (previous is not None and level < previous):
            return  # back under a level: said when it is passed again
        await self.platform.bus.publish(
            EventType.HOST_DISK,
            f"the data disk ({self.platform.paths.data_dir}) is {percent:.0f} % full: "
            f"builds, logs and backups fail when it fills (`deployctl disk` says who uses it)",
            actor="deployd",
            data={"percent": round(percent, 1), "level": level},
        )

    async def judge_releases(self, now: datetime) -> None:
        """Each release, ten minutes after it went live: its traffic beside the hour before."""
        async with self.platform.pool.connection() as conn:
            due = await store.releases_to_judge(conn, now - 3 * AFTER_DEPLOY, now - AFTER_DEPLOY)
        for release in due:
            live_at: datetime = release["live_at"]
            async with self.platform.pool.connection() as conn:
                before = await traffic_store.rollups(
                    conn, release["app"], Period.MINUTE, live_at - timedelta(hours=1), live_at
                )
                after = await traffic_store.rollups(
                    conn, release["app"], Period.MINUTE, live_at, live_at + AFTER_DEPLOY
                )
                await store.judged(conn, release["id"])
            worse = rules.regression(
                traffic_store.merged(before.get(release["app"], [])),
                traffic_store.merged(after.get(release["app"], [])),
            )
            if worse:
                await self.platform.emit(
                    EventType.TRAFFIC_REGRESSED,
                    f"v{release['version']} answers worse than the hour before it: "
                    + "; ".join(worse)
                    + f" (`deployctl rollback {release['app']}` goes back)",
                    release["app"],
                    release=release["version"],
                    reasons=worse,
                )
