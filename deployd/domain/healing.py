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
from enum import StrEnum

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


class Watch(StrEnum):
    """What the supervisor does about one process of a live slot when it looks."""

    NOTHING = "nothing"
    RESTART = "restart"
    """It crashed earlier and its back-off is over: start it again."""
    CRASHED = "crashed"
    """It exited since the last look: record the crash, plan its restart."""
    PROBE = "probe"
    """A web process due for its live health check."""


def watch(
    *,
    alive: bool | None,
    next_restart_at: datetime | None,
    now: datetime,
    web: bool,
    probe_due: bool,
) -> Watch:
    """`alive` is None for a process with no handle (crashed and waiting to restart)."""
    if alive is None:
        due = next_restart_at is not None and next_restart_at <= now
        return Watch.RESTART if due else Watch.NOTHING
    if not alive:
        return Watch.CRASHED
    return Watch.PROBE if web and probe_due else Watch.NOTHING


def failed_too_often(failures: int) -> bool:
    """Live health checks failed in a row often enough to treat the process as crashed:
    one slow answer is not a crash."""
    return failures >= HEALTH_FAILURES_TO_RESTART


@dataclass(frozen=True, slots=True)
class CrashPlan:
    """What follows a crash: the restart count to record, when to restart, and whether to
    give up on the release instead (roll back)."""

    restarts: int
    restart_in: float
    """Seconds."""
    verdict: Verdict


def after_crash(
    previous_restarts: int,
    up_for: timedelta | None,
    crash_times: Sequence[datetime],
    live_at: datetime | None,
    has_previous: bool,
) -> CrashPlan:
    """`crash_times` include this crash."""
    restarts = restarts_after_crash(previous_restarts, up_for)
    return CrashPlan(
        restarts=restarts + 1,
        restart_in=backoff(restarts),
        verdict=judge(crash_times, live_at, has_previous),
    )


def after_failed_restart(previous_restarts: int) -> CrashPlan:
    """A restart that never became healthy counts as one more crash; it never rolls back
    by itself (the crashes that led to it were judged already)."""
    return CrashPlan(
        restarts=previous_restarts + 1,
        restart_in=backoff(previous_restarts),
        verdict=Verdict(False, "restart"),
    )


LOW_DISK_FRACTION = 0.05
LOW_DISK_BYTES = 64 * 1024 * 1024


def disk_is_low(free_bytes: int, total_bytes: int) -> bool:
    return free_bytes < min(LOW_DISK_BYTES, int(total_bytes * LOW_DISK_FRACTION)) or (
        free_bytes == 0
    )
