"""When to restart a crashed live slot, and when to give up on a release instead.

- Restarts back off exponentially: 1 s, 2 s, 4 s … 60 s. A process that had stayed up for
  `STABLE_AFTER` before it crashed starts the count again from 1 s.
- A release that crashes (or fails its live health checks) `CRASHLOOP_CRASHES` times
  within `CRASHLOOP_WINDOW` of going live is crash-looping: it is rolled back to the
  previous release when there is one. A release that was stable before and crashes later
  is only restarted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
STABLE_AFTER = timedelta(seconds=30)
CRASHLOOP_CRASHES = 3
CRASHLOOP_WINDOW = timedelta(minutes=3)
HEALTH_FAILURES_TO_RESTART = 3


def backoff(restarts: int) -> float:
    """Seconds to wait before restart number `restarts + 1`."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, restarts)))


def restarts_after_crash(previous_restarts: int, up_for: timedelta | None) -> int:
    """The restart count to continue from: reset when the process had been stable."""
    if up_for is not None and up_for >= STABLE_AFTER:
        return 0
    return previous_restarts


@dataclass(frozen=True, slots=True)
class Verdict:
    rollback: bool
    reason: str


def judge(
    crash_times: Sequence[datetime],
    live_at: datetime | None,
    has_previous: bool,
) -> Verdict:
    """Restart, or roll back? `crash_times` are this release's crashes while live."""
    if live_at is None:
        return Verdict(False, "restart")
    early = [t for t in crash_times if live_at <= t <= live_at + CRASHLOOP_WINDOW]
    if len(early) < CRASHLOOP_CRASHES:
        return Verdict(False, f"restart ({len(early)} early crashes so far)")
    minutes = CRASHLOOP_WINDOW.total_seconds() / 60
    reason = f"crashed {len(early)} times within {minutes:g} minutes of going live"
    if not has_previous:
        return Verdict(False, reason + "; no earlier release to roll back to")
    return Verdict(True, reason)


LOW_DISK_FRACTION = 0.05
LOW_DISK_BYTES = 64 * 1024 * 1024


def disk_is_low(free_bytes: int, total_bytes: int) -> bool:
    return free_bytes < min(LOW_DISK_BYTES, int(total_bytes * LOW_DISK_FRACTION)) or (
        free_bytes == 0
    )
