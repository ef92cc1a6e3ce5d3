"""`apps.ps` measures CPU from the last reading when there is a recent one, so a page
reloaded within a minute is answered without waiting out the sampling interval again."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import psutil

from deployd.runtime.usage import FRESH_SECONDS, CpuClock, measure


def test_a_reading_an_interval_old_is_the_start_and_nothing_is_waited() -> None:
    now = time.monotonic()
    clock = CpuClock(seen={10: [(now - 2, 1.0), (now - 0.5, 5.0), (now - 0.1, 6.0)]})
    start, wait = clock.start({10: []}, 0.3)
    assert start[10][1] == 5.0 and wait == 0.0  # the newest at least 0.3 s old


def test_without_one_an_interval_old_only_the_rest_of_the_interval_is_waited() -> None:
    now = time.monotonic()
    clock = CpuClock(seen={10: [(now - 0.1, 5.0)], 11: [(now - 2, 1.0)]})
    start, wait = clock.start({10: [], 11: []}, 0.3)
    assert {pid: cpu for pid, (_, cpu) in start.items()} == {10: 5.0, 11: 1.0}
    assert 0.1 < wait <= 0.2  # 0.3 less the age of pid 10's only reading


def test_a_stale_or_missing_reading_means_a_whole_interval_from_now() -> None:
    old = time.monotonic() - FRESH_SECONDS - 1
    for seen in ({10: [(old, 5.0)]}, {}):
        start, wait = CpuClock(seen=dict(seen)).start({10: []}, 0.3)
        assert wait == 0.3 and start[10][1] == 0.0  # read now (an empty tree used nothing)


def test_readings_are_kept_half_an_interval_apart_and_a_few_only() -> None:
    clock = CpuClock()
    now = time.monotonic()
    for n in range(40):
        clock.keep({10: (now + n * 0.1, float(n))}, 0.3)
    kept = clock.seen[10]
    assert len(kept) == 8 and all(b[0] - a[0] >= 0.15 for a, b in itertools.pairwise(kept))


def test_the_second_measurement_counts_the_cpu_used_since_the_first() -> None:
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])",
        ]
    )
    try:
        clock = CpuClock()
        time.sleep(0.5)  # the busy child exists
        first = measure([launcher.pid], 0.2, clock)
        time.sleep(0.5)  # busy all along: the next reading starts from the first one's
        second = measure([launcher.pid], 0.2, clock)
        assert launcher.pid in clock.seen
        assert first[launcher.pid].cpu_percent > 5 and second[launcher.pid].cpu_percent > 5
        assert second[launcher.pid].pid == first[launcher.pid].pid != launcher.pid
    finally:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            child.kill()
        launcher.kill()
        launcher.wait()
