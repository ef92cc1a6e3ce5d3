"""The rules of apps' databases: names, the URL an app is given, backup schedules,
retention, and what makes a backup or a restore proven.

A database and its role share one name, which follows the app-name pattern, so it is safe
in a URL, a file name and (quoted by psycopg.sql) an SQL identifier. Names PostgreSQL or
deployd use themselves are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlsplit, urlunsplit

from . import envvars
from .errors import DomainError
from .text import excerpt

DB_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")
RESERVED = frozenset({"postgres", "deployd", "public", "pg", "root", "admin"})
RESTORED_INFIX = "-before-restore-"
"""A database a restore replaced is kept as `<name>-before-restore-<time>`."""
DEFAULT_VARIABLE = "DATABASE_URL"


def check_name(name: str) -> str:
    if not DB_NAME.fullmatch(name):
        raise DomainError(
            f"invalid database name {excerpt(name)}: 1-32 lowercase letters, digits and "
            "dashes, starting with a letter and not ending with a dash"
        )
    if (
        name in RESERVED
        or name.startswith(("template", "pg-", "deployd-"))
        or "before-restore" in name
        or "restoring" in name
    ):
        raise DomainError(f"{name} is a name PostgreSQL or deployd uses itself: choose another")
    return name


def check_variable(variable: str) -> str:
    """The variable a linked app finds the URL in: any name an app may set."""
    return envvars.check_name(variable)


def url(*, host: str, port: int, name: str, password: str) -> str:
    """What a linked app is given: `postgres://NAME:PASSWORD@HOST:PORT/NAME`."""
    return f"postgres://{name}:{quote(password, safe='')}@{host}:{port}/{name}"


DOCKER_HOST_ALIAS = "host.docker.internal"
"""The name a container on a Docker bridge has for the host (mapped to the bridge's gateway
with `host-gateway`, as Docker Desktop does)."""


def docker_hosts(network: str) -> dict[str, str]:
    """The extra `/etc/hosts` entries of a container on `network` (docker SDK
    `extra_hosts`): on a bridge, the host's name for its linked databases."""
    return {} if network == "host" else {DOCKER_HOST_ALIAS: "host-gateway"}


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def seen_from_bridge(url: str) -> str:
    """The URL as a container on a Docker bridge must use it: there, loopback is the
    container itself, so a linked database on the host's loopback is reached through the
    bridge's gateway instead. Any other URL is returned as it is."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url
    if parts.scheme not in ("postgres", "postgresql") or host not in LOOPBACK_HOSTS:
        return url
    credentials, _, _ = parts.netloc.rpartition("@")
    where = DOCKER_HOST_ALIAS if port is None else f"{DOCKER_HOST_ALIAS}:{port}"
    netloc = f"{credentials}@{where}" if credentials else where
    return urlunsplit(parts._replace(netloc=netloc))


def before_restore_name(name: str, at: datetime) -> str:
    """The name a restored database's previous self keeps (63 bytes at most: PostgreSQL's
    identifier limit)."""
    return f"{name}{RESTORED_INFIX}{at:%Y%m%d%H%M%S}"


class Every(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_AT = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_MINUTE = re.compile(r"^:?([0-5]?[0-9])$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a database is backed up (UTC), and how many verified backups are kept."""

    every: Every
    minute: int = 0
    hour: int = 3
    weekday: int = 0
    """0 is Monday."""
    keep: int = 14

    @property
    def interval(self) -> timedelta:
        return {
            Every.HOURLY: timedelta(hours=1),
            Every.DAILY: timedelta(days=1),
            Every.WEEKLY: timedelta(weeks=1),
        }[self.every]

    def describe(self) -> str:
        at = f"{self.hour:02d}:{self.minute:02d}"
        when = {
            Every.HOURLY: f"hourly at :{self.minute:02d}",
            Every.DAILY: f"daily at {at} UTC",
            Every.WEEKLY: f"weekly on {WEEKDAYS[self.weekday]} at {at} UTC",
        }[self.every]
        return f"{when}, keeping {self.keep}"

    def previous_run(self, now: datetime) -> datetime:
        """The last time at or before `now` the schedule says to run."""
        if self.every is Every.HOURLY:
            run = now.replace(minute=self.minute, second=0, microsecond=0)
            return run if run <= now else run - timedelta(hours=1)
        run = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if self.every is Every.WEEKLY:
            run -= timedelta(days=(run.weekday() - self.weekday) % 7)
        return run if run <= now else run - self.interval

    def next_run(self, now: datetime) -> datetime:
        return self.previous_run(now) + self.interval


USAGE = "hourly [:MM] | daily HH:MM | weekly DAY HH:MM | off (times in UTC)"


def parse_schedule(words: Sequence[str], keep: int = 14) -> Schedule | None:
    """`hourly`, `hourly :15`, `daily 03:00`, `weekly sun 04:30`, or `off` (None)."""
    if not 1 <= keep <= 1000:
        raise DomainError(f"--keep must be between 1 and 1000, not {keep}")
    if list(words) == ["off"]:
        return None
    if not words or words[0] not in set(Every):
        raise DomainError(f"a schedule is {USAGE}")
    every, rest = Every(words[0]), list(words[1:])
    if every is Every.HOURLY:
        minute = _MINUTE.fullmatch(rest[0]) if len(rest) == 1 else None
        if rest and minute is None:
            raise DomainError(f"an hourly schedule takes a minute (:MM), e.g. hourly :15; {USAGE}")
        return Schedule(every, minute=int(minute.group(1)) if minute else 0, keep=keep)
    weekday = 0
    if every is Every.WEEKLY:
        if not rest or rest[0].lower()[:3] not in WEEKDAYS:
            raise DomainError(f"a weekly schedule names a day (mon ... sun); {USAGE}")
        weekday, rest = WEEKDAYS.index(rest.pop(0).lower()[:3]), rest
    found = _AT.fullmatch(rest[0]) if len(rest) == 1 else None
    if found is None:
        raise DomainError(f"a {every.value} schedule takes a time, HH:MM in UTC; {USAGE}")
    return Schedule(
        every, minute=int(found.group(2)), hour=int(found.group(1)), weekday=weekday, keep=keep
    )


def due(schedule: Schedule, last_run: datetime | None, set_at: datetime, now: datetime) -> bool:
    """A run is due when a scheduled time has passed since the schedule was set and since
    the scheduled time of the last run (`last_run`); runs missed while the daemon was down
    make one run when it is back."""
    latest = schedule.previous_run(now)
    since = max(last_run, set_at) if last_run is not None else set_at
    return latest > since


def overdue(
    schedule: Schedule, last_verified: datetime | None, set_at: datetime, now: datetime
) -> bool:
    """No verified backup within twice the schedule's interval: something is wrong."""
    since = last_verified if last_verified is not None else set_at
    return now - since > 2 * schedule.interval


def to_prune(verified: Sequence[tuple[int, datetime]], keep: int) -> list[int]:
    """The verified backups (id, finished) beyond the newest `keep`, oldest first."""
    newest_first = sorted(verified, key=lambda b: (b[1], b[0]), reverse=True)
    return sorted(b[0] for b in newest_first[keep:])


def count_differences(expected: Mapping[str, int], found: Mapping[str, int]) -> list[str]:
    """Tables whose rows a restore did not bring back as the backup counted them, in words;
    empty when every table matches."""
    problems = [f"{t} is missing" for t in sorted(expected.keys() - found.keys())]
    problems += [f"{t} was not in the backup" for t in sorted(found.keys() - expected.keys())]
    problems += [
        f"{t} has {found[t]} rows, the backup {expected[t]}"
        for t in sorted(expected.keys() & found.keys())
        if expected[t] != found[t]
    ]
    return problems


COPY_ATTEMPTS = 10
"""Tries of one copy off the host (the first and nine more, over about two days)."""


def copy_retry_at(attempts: int, failed_at: datetime) -> datetime | None:
    """When a copy that failed `attempts` times is tried again: 5 minutes after the first
    failure, doubling up to 6 hours; None once it has had its tries."""
    if attempts >= COPY_ATTEMPTS:
        return None
    return failed_at + retry_delay(attempts)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure of work off the host: 5 minutes after the
    first, doubling up to 6 hours (a copy's deletion is tried that way for as long as it
    fails: a copy retention pruned is never forgotten)."""
    return min(timedelta(minutes=5) * (1 << min(attempts - 1, 16)), timedelta(hours=6))
