"""`stats.*`: request analytics from nginx's access logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .apps import AppName
from .common import Params, Result

Since = Annotated[str, StringConstraints(min_length=1, max_length=40)]
"""`90m`, `2h`, `7d`, `2w`, or `2026-11-01..2026-11-15`; checked by the daemon."""
By = Literal["path", "status", "referrer", "agent", "visitor"]


class StatsParams(Params):
    app: AppName | None = None
    """None: every app's totals."""
    since: Since = "24h"
    by: By | None = None
    limit: int = Field(default=20, ge=1, le=1000)


class Totals(Result):
    requests: int
    bytes: int
    statuses: dict[str, int]
    """Per class: `2xx`, `3xx`, `4xx`, `5xx`."""
    errors_rate: float
    """The share of 5xx answers (0 to 1)."""
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    visitors: int
    """Distinct visitors of each period of the answer's resolution (minute, hour or day),
    added up over the range: exact for one day at day resolution."""


class Point(Result):
    at: datetime
    requests: int
    errors: int
    p95_ms: float | None


class Entry(Result):
    key: str
    requests: int


class AppStats(Result):
    app: str
    totals: Totals


class StatsResult(Result):
    since: datetime
    until: datetime
    resolution: Literal["minute", "hour", "day"]
    apps: list[AppStats]
    """Every app with traffic (`app` unset), or the one asked for."""
    series: list[Point] = Field(default_factory=list)
    """The app's requests per period; without an app, every app's added up."""
    by: By | None = None
    breakdown: list[Entry] = Field(default_factory=list)
    unparsed: int = 0
    """Lines of the app's log that were not requests in deployd's format (ever)."""
    percentile_error: float
    """Percentiles are within this share of the true value."""


LIVE_NOTIFICATION = "stats.live"


class StatsFollowParams(Params):
    app: AppName


class StatsFollowStarted(Result):
    app: str


class LivePoint(Result):
    """The app's requests in the last second (sent every second)."""

    at: datetime
    requests: int
    bytes: int
    statuses: dict[str, int]
    p95_ms: float | None
