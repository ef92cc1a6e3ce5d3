"""What each app process costs now: CPU and memory of the tree under its launcher.

The launcher is the daemon's own helper, so it is left out: the app's pid is its first
child (past a shell that only waits for the Procfile's command), and its CPU and RSS are
those of every process under the launcher. A container's
processes live under the Docker Engine, not the launcher: they are not measured here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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


def measure(launchers: list[int], interval: float = 0.3) -> dict[int, Usage]:
    """Per launcher pid, its app's usage (blocking for `interval`: call it in a thread).
    Launchers with no child (gone, or a container's) are left out."""
    trees = {pid: tree for pid in launchers if (tree := _tree(pid))}
    before = {pid: _cpu_seconds(tree) for pid, tree in trees.items()}
    start = time.monotonic()
    time.sleep(interval)
    elapsed = max(time.monotonic() - start, 1e-3)
    return {
        pid: Usage(
            pid=_main(tree),
            cpu_percent=round(100 * max(_cpu_seconds(tree) - before[pid], 0.0) / elapsed, 1),
            rss_bytes=_rss(tree),
        )
        for pid, tree in trees.items()
    }
