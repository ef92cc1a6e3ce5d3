"""What each app process costs now: CPU and memory of the tree under its launcher.

The launcher is the daemon's own helper, so it is left out: the app's pid is its first
child (past a shell that only waits for the Procfile's command), and its CPU and RSS are
those of every process under the launcher. A container's
processes live under the Docker Engine, not the launcher: they are not measured here.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True, slots=True)
class Usage:
    pid: int
    """The app's own process."""
    cpu_percent: float
    """Of one core, over the sampling interval."""
    rss_bytes: int


def _tree(launcher: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(launcher).children(recursive=True))
    except psutil.Error:
        return []


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


SHELLS = frozenset({"sh", "dash", "bash"})


def _main(tree: list[psutil.Process]) -> int:
    """The app's own process: the launcher's child, or past the shell that runs the
    Procfile line when that shell just waits for one command."""
    current = tree[0]
    try:
        while current.name() in SHELLS:
            children = current.children()
            if len(children) != 1:
                break
            current = children[0]
    except psutil.Error:
        pass
    return current.pid


FRESH_SECONDS = 60.0
"""A reading older than this is not a start to measure from (the usage would be an average
over too long to say anything about now)."""


Reading = tuple[float, float]
"""(`time.monotonic()`, the CPU seconds a launcher's tree had used then)."""


READINGS_KEPT = 8
"""Per launcher: enough readings, at least half an interval apart, that one is always
an interval old for a page asked for again and again."""


@dataclass
class CpuClock:
    """Each launcher's recent readings: a measurement soon after others (a page reloaded,
    `ps` asked twice) starts from the newest one at least an interval old and does not
    wait at all, instead of sleeping the whole interval every time."""

    seen: dict[int, list[Reading]] = field(default_factory=dict)
    """Oldest first, at most READINGS_KEPT, none older than FRESH_SECONDS."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """`measure` runs in threads: two pages asking at once must not lose readings."""

    def start(
        self, trees: dict[int, list[psutil.Process]], interval: float
    ) -> tuple[dict[int, Reading], float]:
        """Each tree's reading to measure from, and how long to wait still."""
        with self.lock:
            return self._start(trees, interval)

    def _start(
        self, trees: dict[int, list[psutil.Process]], interval: float
    ) -> tuple[dict[int, Reading], float]:
        now = time.monotonic()
        fresh = {
            pid: [r for r in self.seen.get(pid, []) if now - r[0] <= FRESH_SECONDS] for pid in trees
        }
        if all(fresh.values()):
            starts = {
                pid: next((r for r in reversed(kept) if now - r[0] >= interval), kept[0])
                for pid, kept in fresh.items()
            }
            newest = max(r[0] for r in starts.values())
            return starts, max(interval - (now - newest), 0.0)
        return {pid: (now, _cpu_seconds(tree)) for pid, tree in trees.items()}, interval

    def keep(self, readings: dict[int, Reading], interval: float) -> None:
        with self.lock:
            self._keep(readings, interval)

    def _keep(self, readings: dict[int, Reading], interval: float) -> None:
        now = time.monotonic()
        kept = {
            pid: fresh
            for pid, old in self.seen.items()
            if (fresh := [r for r in old if now - r[0] <= FRESH_SECONDS])
        }
        for pid, reading in readings.items():
            mine = kept.setdefault(pid, [])
            if not mine or reading[0] - mine[-1][0] >= interval / 2:
                mine.append(reading)
                del mine[:-READINGS_KEPT]
        self.seen = kept


def measure(
    launchers: list[int], interval: float = 0.3, clock: CpuClock | None = None
) -> dict[int, Usage]:
    """Per launcher pid, its app's usage: CPU over at least `interval` (blocking for what
    `clock` has not seen already: call it in a thread). Launchers with no child (gone, or
    a container's) are left out."""
    trees = {pid: tree for pid in launchers if (tree := _tree(pid))}
    if not trees:
        return {}  # nothing to measure: no reason to wait
    clock = clock or CpuClock()
    before, wait = clock.start(trees, interval)
    time.sleep(wait)
    now = time.monotonic()
    after = {pid: (now, _cpu_seconds(tree)) for pid, tree in trees.items()}
    clock.keep(after, interval)
    return {
        pid: Usage(
            pid=_main(tree),
            cpu_percent=_percent(before[pid], after[pid]),
            rss_bytes=_rss(tree),
        )
        for pid, tree in trees.items()
    }


def _percent(before: Reading, after: Reading) -> float:
    elapsed = max(after[0] - before[0], 1e-3)
    return round(100 * max(after[1] - before[1], 0.0) / elapsed, 1)


@dataclass(frozen=True, slots=True)
class Host:
    """The machine now: CPU over the sampling interval, memory, load, network rates."""

    cpus: int
    cpu_percent: float
    """Of all cores together (100 = every core busy)."""
    memory_total: int
    memory_used: int
    load: tuple[float, float, float]
    net_sent_per_s: float
    net_received_per_s: float


def host(interval: float = 0.3) -> Host:
    """Blocking for `interval`: call it in a thread."""
    before = psutil.net_io_counters()
    psutil.cpu_percent(None)
    start = time.monotonic()
    time.sleep(interval)
    elapsed = max(time.monotonic() - start, 1e-3)
    after = psutil.net_io_counters()
    memory = psutil.virtual_memory()
    load = psutil.getloadavg()
    return Host(
        cpus=psutil.cpu_count() or 1,
        cpu_percent=psutil.cpu_percent(None),
        memory_total=memory.total,
        memory_used=memory.total - memory.available,
        load=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
        net_sent_per_s=(after.bytes_sent - before.bytes_sent) / elapsed,
        net_received_per_s=(after.bytes_recv - before.bytes_recv) / elapsed,
    )


def disk_use(path: str) -> int:
    """Bytes the files below `path` take on disk, links not followed, nothing opened
    (blocking: call it in a thread). 0 for a path that does not exist."""
    total = 0
    stack = [path]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total
