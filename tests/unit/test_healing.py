"""When to restart, when to roll back, when a disk is low."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployd.domain.healing import (
    CRASHLOOP_WINDOW,
    Watch,
    after_crash,
    after_failed_restart,
    backoff,
    disk_is_low,
    failed_too_often,
    judge,
    restarts_after_crash,
    watch,
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


def look(
    alive: bool | None,
    *,
    restart_at: datetime | None = None,
    web: bool = True,
    probe_due: bool = True,
) -> Watch:
    return watch(alive=alive, next_restart_at=restart_at, now=LIVE, web=web, probe_due=probe_due)


def test_a_process_that_exited_is_a_crash_whatever_else_is_due() -> None:
    assert look(False) is Watch.CRASHED
    assert look(False, web=False, probe_due=False) is Watch.CRASHED


def test_a_crashed_process_restarts_only_once_its_back_off_is_over() -> None:
    assert look(None, restart_at=LIVE + timedelta(seconds=1)) is Watch.NOTHING
    assert look(None, restart_at=LIVE) is Watch.RESTART
    assert look(None) is Watch.NOTHING  # forgotten on purpose (scaled down, stopped)


def test_only_running_web_processes_are_probed_and_only_when_due() -> None:
    assert look(True) is Watch.PROBE
    assert look(True, probe_due=False) is Watch.NOTHING
    assert look(True, web=False) is Watch.NOTHING


def test_three_failed_live_checks_in_a_row_count_as_a_crash() -> None:
    assert [failed_too_often(n) for n in range(5)] == [False, False, False, True, True]


def test_a_crash_plans_the_next_restart_from_the_count_and_may_roll_back() -> None:
    quick = timedelta(seconds=3)
    first = after_crash(0, quick, [LIVE], LIVE, has_previous=True)
    assert (first.restarts, first.restart_in, first.verdict.rollback) == (1, 1.0, False)
    third = after_crash(2, quick, [LIVE, LIVE, LIVE], LIVE, has_previous=True)
    assert (third.restarts, third.restart_in, third.verdict.rollback) == (3, 4.0, True)
    stable = after_crash(6, timedelta(minutes=5), [LIVE + timedelta(hours=1)], LIVE, True)
    assert (stable.restarts, stable.restart_in, stable.verdict.rollback) == (1, 1.0, False)


def test_a_restart_that_never_became_healthy_backs_off_further_but_never_rolls_back() -> None:
    plan = after_failed_restart(3)
    assert (plan.restarts, plan.restart_in, plan.verdict.rollback) == (4, 8.0, False)
