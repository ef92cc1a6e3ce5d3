"""When to restart, when to roll back, when a disk is low."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployd.domain.healing import (
    CRASHLOOP_WINDOW,
    backoff,
    disk_is_low,
    judge,
    restarts_after_crash,
)

LIVE = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_doubles_from_one_second_to_a_minute() -> None:
    assert [backoff(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_stable_process_starts_the_count_again() -> None:
    assert restarts_after_crash(5, timedelta(seconds=29)) == 5
    assert restarts_after_crash(5, timedelta(seconds=30)) == 0
    assert restarts_after_crash(5, None) == 5


def test_three_early_crashes_roll_back_when_there_is_somewhere_to_go() -> None:
    early = [LIVE + timedelta(seconds=s) for s in (2, 5, 9)]
    assert not judge(early[:2], LIVE, has_previous=True).rollback
    verdict = judge(early, LIVE, has_previous=True)
    assert verdict.rollback and "crashed 3 times within 3 minutes" in verdict.reason
    alone = judge(early, LIVE, has_previous=False)
    assert not alone.rollback and "no earlier release" in alone.reason


def test_crashes_after_a_stable_start_only_restart() -> None:
    late = [LIVE + CRASHLOOP_WINDOW + timedelta(seconds=s) for s in (1, 2, 3, 4)]
    assert not judge(late, LIVE, has_previous=True).rollback
    assert not judge([LIVE, LIVE, LIVE], None, has_previous=True).rollback


def test_low_disk() -> None:
    gib = 1024**3
    assert disk_is_low(0, 512 * 1024)
    assert disk_is_low(10 * 1024, 512 * 1024)  # under 5% of a tiny disk
    assert not disk_is_low(100 * 1024, 512 * 1024)
    assert disk_is_low(60 * 1024**2, 100 * gib)  # under 64 MiB of a big one
    assert not disk_is_low(10 * gib, 100 * gib)
