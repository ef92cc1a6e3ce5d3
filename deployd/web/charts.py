"""Charts as data for inline SVG: where each bar, tick and label goes, worked out here and
drawn by a template (so every label is escaped by Jinja and no script is needed).

Pure functions of the daemon's `stats.show` answer, unit-tested. The SVG's coordinates
are those of a `WIDTH` x `HEIGHT` view box the browser scales to the page's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from deployd.protocol.stats import Point

WIDTH = 600
HEIGHT = 220
LEFT = 70
"""Room for the y axis' labels."""
RIGHT = 8
TOP = 10
BOTTOM = 26
"""Room for the x axis' labels."""
X_LABELS = 5
STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
CLASSES = ("2xx", "3xx", "4xx", "5xx")
BAR_HEIGHT = 26
BAR_GAP = 8
BARS_LEFT = 44
"""Room for a status class' name left of its bar."""
BARS_RIGHT = 140
"""Room for the count and share right of the bar."""


@dataclass(frozen=True)
class Period:
    """One period of the series, every one of the range (0 where nothing came)."""

    at: datetime
    requests: int
    errors: int
    p95_ms: float | None


@dataclass(frozen=True)
class Tick:
    at: float
    """x (on the time axis) or y (on the value axis), in the view box."""
    label: str


@dataclass(frozen=True)
class Column:
    x: float
    width: float
    y: float
    height: float
    error_y: float
    error_height: float
    title: str
    """What a pointer resting on the column is told (and a screen reader, with the table)."""


@dataclass(frozen=True)
class TimeChart:
    label: str
    """The chart said in one sentence (the SVG's accessible name)."""
    columns: list[Column]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    lines: tuple[str, ...] = ()
    """SVG polylines' points, for a line chart (latency) instead of columns: one for each
    run of periods with requests."""
    dots: tuple[tuple[float, float], ...] = ()
    """Each period's point on the line (a run of one period is a dot only)."""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: float = WIDTH - RIGHT
    top: int = TOP
    bottom: float = HEIGHT - BOTTOM
    empty: bool = False


@dataclass(frozen=True)
class ClassBar:
    name: str
    count: int
    share: float
    y: float
    width: float
    label: str


def periods(points: list[Point], since: datetime, until: datetime, resolution: str) -> list[Period]:
    """Every period from the one `since` falls in to the one `until` falls in, with the
    answer's figures where it has some (the daemon leaves out periods without requests)."""
    step = STEP[resolution]
    start = _floor(since, resolution)
    found = {_floor(p.at, resolution): p for p in points}
    out: list[Period] = []
    at = start
    while at <= until and len(out) < 2000:
        point = found.get(at)
        out.append(
            Period(at, point.requests, point.errors, point.p95_ms)
            if point
            else Period(at, 0, 0, None)
        )
        at += step
    return out


def _floor(at: datetime, resolution: str) -> datetime:
    at = at.replace(second=0, microsecond=0)
    if resolution in ("hour", "day"):
        at = at.replace(minute=0)
    if resolution == "day":
        at = at.replace(hour=0)
    return at


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value` (1 for 0):
    an axis' top whose halves and quarters are round."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= value:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover (10 always is)


def number(value: float) -> str:
    """An axis label: 1,200 / 2.5k / 1.2M, as short as says it."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


def time_label(at: datetime, resolution: str, span: timedelta) -> str:
    local = at.astimezone()
    if resolution == "minute":
        return local.strftime("%H:%M")
    if resolution == "hour" and span <= timedelta(days=1, hours=1):
        return local.strftime("%H:%M")
    if resolution == "hour":
        return local.strftime("%a %H:%M")
    return local.strftime("%b %d")


def period_name(at: datetime, resolution: str) -> str:
    """A period said in full (a column's title): the day too, and the hour but for days."""
    local = at.astimezone()
    return local.strftime("%a %d %b" if resolution == "day" else "%a %d %b %H:%M")


def divisions(top: float) -> int:
    """Into how many round steps an axis' top splits: 20 in 4 of 5, 50 in 5 of 10."""
    mantissa = top / 10 ** math.floor(math.log10(top))
    return 4 if math.isclose(mantissa, 2) else 5


def _y_ticks(top: float) -> list[Tick]:
    usable = HEIGHT - BOTTOM - TOP
    steps = divisions(top)
    return [
        Tick(round(TOP + usable * (1 - i / steps), 2), number(top * i / steps))
        for i in range(steps + 1)
    ]


def _x_ticks(series: list[Period], resolution: str) -> list[Tick]:
    if not series:
        return []
    span = series[-1].at - series[0].at
    slot = (WIDTH - RIGHT - LEFT) / len(series)
    count = min(X_LABELS, len(series))
    picks = sorted({round(i * (len(series) - 1) / max(count - 1, 1)) for i in range(count)})
    return [
        Tick(LEFT + slot * (i + 0.5), time_label(series[i].at, resolution, span)) for i in picks
    ]


def requests_chart(series: list[Period], resolution: str) -> TimeChart:
    """Requests per period as columns, the 5xx among them drawn over their foot in red."""
    peak = max((p.requests for p in series), default=0)
    top = nice_ceiling(max(peak, 5))  # whole requests on the axis
    usable = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - RIGHT - LEFT) / max(len(series), 1)
    gap = min(slot * 0.2, 2.0)
    columns = []
    for i, p in enumerate(series):
        height = usable * p.requests / top
        error_height = usable * p.errors / top
        when = period_name(p.at, resolution)
        columns.append(
            Column(
                x=round(LEFT + i * slot + gap / 2, 2),
                width=round(max(slot - gap, 0.5), 2),
                y=round(TOP + usable - height, 2),
                height=round(height, 2),
                error_y=round(TOP + usable - error_height, 2),
                error_height=round(error_height, 2),
                title=f"{when}: {p.requests:,} requests, {p.errors:,} 5xx",
            )
        )
    total = sum(p.requests for p in series)
    errors = sum(p.errors for p in series)
    label = (
        f"Requests per {resolution}: {total:,} in all, at most {peak:,} in one {resolution}; "
        f"{errors:,} answered 5xx"
    )
    return TimeChart(
        label=label,
        columns=columns if peak else [],
        y_ticks=_y_ticks(top),
        x_ticks=_x_ticks(series, resolution),
        empty=not peak,
    )


def latency_chart(series: list[Period], resolution: str) -> TimeChart:
    """The 95th percentile of the answers' time per period, as a line broken where a
    period had no requests."""
    known = [p.p95_ms for p in series if p.p95_ms is not None]
    peak = max(known, default=0.0)
    top = nice_ceiling(peak)
    usable = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - RIGHT - LEFT) / max(len(series), 1)
    dots: list[tuple[float, float]] = []
    runs: list[list[str]] = [[]]
    for i, p in enumerate(series):
        if p.p95_ms is None:
            runs.append([])
            continue
        dot = (round(LEFT + slot * (i + 0.5), 1), round(TOP + usable - usable * p.p95_ms / top, 1))
        dots.append(dot)
        runs[-1].append(f"{dot[0]},{dot[1]}")
    label = (
        f"95th percentile response time per {resolution}: at most {peak:,.0f} ms"
        if known
        else "No response times in this range"
    )
    return TimeChart(
        label=label,
        columns=[],
        y_ticks=_y_ticks(top),
        x_ticks=_x_ticks(series, resolution),
        lines=tuple(" ".join(run) for run in runs if len(run) > 1),
        dots=tuple(dots),
        empty=not known,
    )


def status_bars(statuses: dict[str, int]) -> list[ClassBar]:
    """One horizontal bar per status class (2xx to 5xx, each named even at 0), its length
    its share of the requests."""
    total = sum(statuses.get(name, 0) for name in CLASSES)
    room = WIDTH - BARS_LEFT - BARS_RIGHT
    bars = []
    for i, name in enumerate(CLASSES):
        count = statuses.get(name, 0)
        share = count / total if total else 0.0
        bars.append(
            ClassBar(
                name=name,
                count=count,
                share=share,
                y=i * (BAR_HEIGHT + BAR_GAP),
                width=round(room * share, 2),
                label=f"{count:,} ({share:.1%})",
            )
        )
    return bars


def bars_height() -> int:
    return len(CLASSES) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
