"""Database names, the URL an app gets, backup schedules, retention, restore checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployd.domain import databases as rules
from deployd.domain.databases import (
    COPY_ATTEMPTS,
    Every,
    Schedule,
    before_restore_name,
    check_name,
    check_variable,
    copy_retry_at,
    count_differences,
    due,
    overdue,
    parse_schedule,
    retry_delay,
    to_prune,
    url,
)
from deployd.domain.errors import DomainError

NOW = datetime(2026, 11, 29, 16, 40, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize("name", ["shopdb", "a", "shop-db-2", "x" * 32])
def test_names_like_apps_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "Shop", "1db", "db-", "x" * 33, "shop_db", "a b", "db;drop", "postgres", "deployd",
     "template1", "templatex", "pg-stat", "deployd-state", "shop-before-restore-2025",
     "shop-restoring-1"],
)  # fmt: skip
def test_bad_or_reserved_names_are_refused_in_words(name: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_name(name)
    assert "database name" in str(refused.value) or "uses itself" in str(refused.value)


def test_the_variable_follows_the_config_rules() -> None:
    assert check_variable("REPORTING_DATABASE_URL") == "REPORTING_DATABASE_URL"
    for bad in ("database_url", "PORT", "DEPLOYD_DB", "1URL"):
        with pytest.raises(DomainError):
            check_variable(bad)


def test_the_url_quotes_the_password() -> None:
    assert (
        url(host="127.0.0.1", port=5433, name="shopdb", password="a/b@c")
        == "postgres://shopdb:a%2Fb%40c@127.0.0.1:5433/shopdb"
    )


def test_a_replaced_database_keeps_a_dated_name_within_postgres_limit() -> None:
    kept = before_restore_name("x" * 32, NOW)
    assert kept == "x" * 32 + "-before-restore-20261129164000"
    assert len(kept.encode()) <= 63


@pytest.mark.parametrize(
    ("words", "schedule"),
    [
        (["hourly"], Schedule(Every.HOURLY, minute=0)),
        (["hourly", ":15"], Schedule(Every.HOURLY, minute=15)),
        (["daily", "03:00"], Schedule(Every.DAILY, minute=0, hour=3)),
        (["daily", "23:59"], Schedule(Every.DAILY, minute=59, hour=23)),
        (["weekly", "sun", "04:30"], Schedule(Every.WEEKLY, minute=30, hour=4, weekday=6)),
        (["weekly", "Monday", "0:05"], Schedule(Every.WEEKLY, minute=5, hour=0, weekday=0)),
        (["off"], None),
    ],
)
def test_schedules_read_as_people_write_them(words: list[str], schedule: Schedule | None) -> None:
    assert parse_schedule(words) == schedule


@pytest.mark.parametrize(
    "words",
    [[], ["daily"], ["daily", "25:00"], ["daily", "3pm"], ["weekly", "03:00"], ["monthly"],
     ["hourly", ":75"], ["hourly", "every"], ["off", "now"]],
)  # fmt: skip
def test_bad_schedules_say_what_a_schedule_is(words: list[str]) -> None:
    with pytest.raises(DomainError) as refused:
        parse_schedule(words)
    assert "HH:MM" in str(refused.value)


def test_keep_is_bounded() -> None:
    with pytest.raises(DomainError):
        parse_schedule(["hourly"], keep=0)


def test_the_previous_and_next_runs_of_each_kind() -> None:
    daily = Schedule(Every.DAILY, minute=0, hour=3)
    assert daily.previous_run(NOW) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert daily.next_run(NOW) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    late = Schedule(Every.DAILY, minute=0, hour=20)
    assert late.previous_run(NOW) == datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    hourly = Schedule(Every.HOURLY, minute=45)
    assert hourly.previous_run(NOW) == datetime(2026, 11, 29, 15, 45, tzinfo=UTC)
    weekly = Schedule(Every.WEEKLY, minute=0, hour=4, weekday=2)  # wednesdays
    assert weekly.previous_run(NOW) == datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    assert weekly.next_run(NOW) == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    sunday_later = Schedule(Every.WEEKLY, minute=0, hour=20, weekday=6)
    assert sunday_later.previous_run(NOW) == datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


def test_a_run_missed_while_the_daemon_was_down_is_due_once() -> None:
    daily = Schedule(Every.DAILY, minute=0, hour=3)
    set_at = NOW - timedelta(days=5)
    assert due(daily, None, set_at, NOW)  # never ran since the schedule was set
    assert due(daily, NOW - timedelta(days=3), set_at, NOW)  # missed three runs: due
    assert not due(daily, datetime(2026, 11, 29, 3, 0, 2, tzinfo=UTC), set_at, NOW)
    assert not due(daily, None, NOW - timedelta(hours=1), NOW)  # set after today's run


def test_no_verified_backup_in_twice_the_interval_is_overdue() -> None:
    hourly = Schedule(Every.HOURLY)
    assert not overdue(hourly, NOW - timedelta(minutes=119), NOW - timedelta(days=1), NOW)
    assert overdue(hourly, NOW - timedelta(minutes=121), NOW - timedelta(days=1), NOW)
    assert overdue(hourly, None, NOW - timedelta(hours=3), NOW)
    assert not overdue(hourly, None, NOW - timedelta(minutes=30), NOW)


def test_retention_keeps_the_newest_verified_backups() -> None:
    at = [NOW - timedelta(days=d) for d in range(5)]
    backups = [(10 + i, at[i]) for i in range(5)]  # id 10 is the newest
    assert to_prune(backups, keep=3) == [13, 14]
    assert to_prune(backups, keep=10) == []


def test_a_restore_is_checked_table_by_table() -> None:
    assert count_differences({"orders": 3, "users": 2}, {"orders": 3, "users": 2}) == []
    assert count_differences({"orders": 3, "users": 2}, {"orders": 1, "extra": 0}) == [
        "users is missing",
        "extra was not in the backup",
        "orders has 1 rows, the backup 3",
    ]


def test_a_failed_copy_is_tried_again_later_and_later_then_given_up() -> None:
    failed = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    delays = [copy_retry_at(n, failed) for n in range(1, COPY_ATTEMPTS + 1)]
    assert delays[0] == failed + timedelta(minutes=5)
    assert delays[1] == failed + timedelta(minutes=10)
    assert delays[7] == failed + timedelta(hours=6)  # capped
    assert delays[-1] is None  # its tries are over
    assert retry_delay(1000) == timedelta(hours=6)  # a deletion is tried for as long as it fails


@pytest.mark.parametrize(
    ("given", "seen"),
    [
        (
            "postgres://shop:p%40ss@127.0.0.1:5433/shop",
            "postgres://shop:p%40ss@host.docker.internal:5433/shop",
        ),
        ("postgresql://a@localhost/a", "postgresql://a@host.docker.internal/a"),
        ("postgres://a:b@[::1]:5432/a", "postgres://a:b@host.docker.internal:5432/a"),
        ("postgres://a:b@db.internal:5432/a", "postgres://a:b@db.internal:5432/a"),
        ("https://127.0.0.1:8080/", "https://127.0.0.1:8080/"),
        ("postgres://a:b@127.0.0.1:99999/a", "postgres://a:b@127.0.0.1:99999/a"),
        ("not a url", "not a url"),
    ],
)
def test_a_bridge_container_reaches_a_loopback_database_through_the_host(
    given: str, seen: str
) -> None:
    assert rules.seen_from_bridge(given) == seen


def test_only_bridge_containers_get_the_hosts_name() -> None:
    assert rules.docker_hosts("bridge") == {"host.docker.internal": "host-gateway"}
    assert rules.docker_hosts("host") == {}
