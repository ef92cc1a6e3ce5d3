"""The Analytics tab's charts as data: every period drawn (0 where none came), columns
as tall as their share of a round axis top, the 5xx over their foot, labels readable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployd.protocol.stats import Point
from deployd.web import charts

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def point(minutes: int, requests: int, errors: int = 0, p95: float | None = 12.0) -> Point:
    return Point(at=T0 + timedelta(minutes=minutes), requests=requests, errors=errors, p95_ms=p95)


def test_every_period_of_the_range_is_drawn_with_zero_where_nothing_came() -> None:
    series = charts.periods(
        [point(2, 5), point(4, 7, 1)],
        T0 + timedelta(seconds=30),
        T0 + timedelta(minutes=5),
        "minute",
    )
    assert [p.at for p in series] == [T0 + timedelta(minutes=m) for m in range(6)]
    assert [p.requests for p in series] == [0, 0, 5, 0, 7, 0]
    assert [p.errors for p in series] == [0, 0, 0, 0, 1, 0]
    assert series[0].p95_ms is None and series[2].p95_ms == 12.0
    days = charts.periods([], T0, T0 + timedelta(days=29, hours=5), "day")
    assert len(days) == 30 and days[0].at == T0.replace(hour=0)


def test_the_axis_top_is_a_round_number_at_or_above_the_peak_in_round_steps() -> None:
    assert [charts.divisions(top) for top in (1, 2, 5, 10, 20, 25, 50, 200)] == [
        5,
        4,
        5,
        5,
        4,
        5,
        5,
        4,
    ]
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 11, 240, 2600, 0.4)] == [
        1,
        1,
        5,
        10,
        20,
        250,
        5000,
        0.5,
    ]
    assert [charts.number(v) for v in (0, 12.5, 1200, 25000, 2_000_000)] == [
        "0",
        "12.5",
        "1,200",
        "25k",
        "2M",
    ]


def test_columns_are_as_tall_as_their_requests_and_the_5xx_are_drawn_over_their_foot() -> None:
    series = charts.periods(
        [point(0, 10, 5), point(1, 20)], T0, T0 + timedelta(minutes=1), "minute"
    )
    chart = charts.requests_chart(series, "minute")
    usable = charts.HEIGHT - charts.BOTTOM - charts.TOP
    first, second = chart.columns
    assert second.height == usable and second.y == charts.TOP  # 20 is the axis' top
    assert first.height == usable / 2 and first.error_height == usable / 4
    assert first.error_y + first.error_height == first.y + first.height  # same foot
    assert second.error_height == 0
    assert first.x < second.x and first.x + first.width <= second.x
    assert second.x + second.width <= charts.WIDTH - charts.RIGHT
    assert "10 requests, 5 5xx" in first.title
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10", "15", "20"]
    assert (
        chart.y_ticks[0].at == charts.HEIGHT - charts.BOTTOM and chart.y_ticks[-1].at == charts.TOP
    )
    assert "30 in all" in chart.label and "5 answered 5xx" in chart.label and not chart.empty


def test_time_labels_are_few_and_say_the_periods() -> None:
    hours = charts.periods([], T0, T0 + timedelta(hours=23), "hour")
    chart = charts.requests_chart(hours, "hour")
    assert chart.empty and chart.columns == []  # nothing to draw, and said so
    assert len(chart.x_ticks) == charts.X_LABELS
    assert chart.x_ticks[0].label == T0.astimezone().strftime("%H:%M")
    assert [t.at for t in chart.x_ticks] == sorted(t.at for t in chart.x_ticks)
    week = charts.periods([], T0, T0 + timedelta(days=7), "hour")
    assert charts.requests_chart(week, "hour").x_ticks[0].label == T0.astimezone().strftime(
        "%a %H:%M"
    )
    one = charts.requests_chart(charts.periods([point(0, 1)], T0, T0, "minute"), "minute")
    assert len(one.x_ticks) == 1 and len(one.columns) == 1


def test_the_latency_line_skips_periods_without_requests() -> None:
    series = charts.periods(
        [point(0, 1, p95=40.0), point(2, 1, p95=80.0)], T0, T0 + timedelta(minutes=2), "minute"
    )
    chart = charts.latency_chart(series, "minute")
    assert len(chart.dots) == 2 and chart.lines == ()  # apart: two dots, no line between
    assert chart.y_ticks[-1].label == "100" and "at most 80 ms" in chart.label
    together = charts.periods(
        [point(0, 1, p95=40.0), point(1, 1, p95=80.0)], T0, T0 + timedelta(minutes=2), "minute"
    )
    joined = charts.latency_chart(together, "minute")
    assert len(joined.lines) == 1 and len(joined.lines[0].split()) == 2
    none = charts.latency_chart(charts.periods([], T0, T0, "minute"), "minute")
    assert none.empty and none.lines == () and none.dots == ()


def test_status_bars_name_every_class_and_share_the_width() -> None:
    bars = charts.status_bars({"2xx": 75, "4xx": 25})
    assert [b.name for b in bars] == ["2xx", "3xx", "4xx", "5xx"]
    room = charts.WIDTH - charts.BARS_LEFT - charts.BARS_RIGHT
    assert [b.width for b in bars] == [room * 0.75, 0, room * 0.25, 0]
    assert bars[0].label == "75 (75.0%)" and bars[3].label == "0 (0.0%)"
    assert [b.y for b in bars] == sorted({b.y for b in bars})
    assert all(b.width == 0 for b in charts.status_bars({}))
