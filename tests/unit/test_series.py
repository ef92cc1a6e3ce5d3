"""A series thinned for a chart: at most the limit, spread over time, its ends exact; and
the line `db show` draws from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from deployctl.commands.databases import size_history
from deployctl.render import sparkline
from deployd.domain.series import CHART_POINTS, Sample, downsample
from deployd.protocol.databases import SizeHistory, SizePoint

T0 = datetime(2026, 11, 1, tzinfo=UTC)
MiB = 2**20


def every_five_minutes(days: int, grow: int = MiB) -> list[Sample]:
    """A database growing by `grow` bytes a sample."""
    return [(T0 + timedelta(minutes=5 * n), 100 * MiB + n * grow) for n in range(days * 288)]


def test_a_short_series_is_sent_as_it_is() -> None:
    samples = every_five_minutes(days=1)[:CHART_POINTS]
    assert downsample(samples) == samples
    assert downsample([]) == []


def test_a_week_is_thinned_to_the_limit_evenly_with_its_ends_exact() -> None:
    samples = every_five_minutes(days=7)  # 2016 samples
    kept = downsample(samples)
    assert len(kept) == CHART_POINTS
    assert kept[0] == samples[0] and kept[-1] == samples[-1]  # the growth is exact
    assert [at for at, _ in kept] == sorted(at for at, _ in kept)
    assert set(kept) <= set(samples)  # samples, not averages
    width = (samples[-1][0] - samples[0][0]) / (CHART_POINTS - 1)
    gaps = [b[0] - a[0] for a, b in pairwise(kept)]
    assert all(width - timedelta(minutes=5) <= gap <= width + timedelta(minutes=5) for gap in gaps)


def test_a_gap_while_the_daemon_was_down_keeps_no_points() -> None:
    samples = every_five_minutes(days=7)
    down = [s for s in samples if not T0 + timedelta(days=2) <= s[0] < T0 + timedelta(days=5)]
    kept = downsample(down, limit=71)  # spans of 2.4 hours
    assert len(kept) <= 71 and kept[0] == down[0] and kept[-1] == down[-1]
    assert not [at for at, _ in kept if T0 + timedelta(days=2) <= at < T0 + timedelta(days=5)]
    assert len(kept) < 50  # three days of seven had nothing to keep


def test_the_limit_is_at_least_two() -> None:
    samples = every_five_minutes(days=1)
    assert downsample(samples, limit=2) == [samples[0], samples[-1]]
    with pytest.raises(ValueError):
        downsample(samples, limit=1)


def test_a_sparkline_can_start_from_its_lowest_value() -> None:
    assert sparkline([0, 4, 8]) == "▁▅█"
    assert sparkline([1000, 1004, 1008]) == "███"  # from zero: growth is invisible
    assert sparkline([1000, 1004, 1008], low=1000) == "▁▅█"
    assert sparkline([5, 5, 5], low=5) == "▁▁▁"


def test_db_show_draws_the_size_and_says_its_growth() -> None:
    points = [SizePoint(at=at, bytes=b) for at, b in downsample(every_five_minutes(days=7))]
    line = size_history(SizeHistory(since=T0, until=T0 + timedelta(days=7), points=points))
    chart, growth = line.split("  ", 1)
    assert len(chart) == 60 and chart[0] == "▁" and chart[-1] == "█"
    assert growth == "+2.0 GiB in 7 d"  # 2015 samples of a MiB each
    shrunk = [SizePoint(at=T0, bytes=300 * MiB), SizePoint(at=T0 + timedelta(hours=5), bytes=MiB)]
    assert size_history(SizeHistory(since=T0, until=T0, points=shrunk)).endswith(
        "  -299.0 MiB in 5 h"
    )
    none = SizeHistory(since=T0, until=T0, points=[])
    assert size_history(none).startswith("no samples in the range")
