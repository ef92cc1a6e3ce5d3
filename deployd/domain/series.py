"""A series sampled over time, thinned to what a chart can draw: about one point a column.

A sparkline has no time axis, so the points are thinned by time, not by count: each of
`limit - 1` equal spans after the first sample keeps its last sample, and a span with no
sample (the daemon was down) keeps none. The first and the last samples are always kept,
so what grew between them is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

Sample = tuple[datetime, int]
"""When, and the value then (bytes, for a database's size)."""

CHART_POINTS = 200
"""Points sent for a chart: more than any terminal row draws."""


def downsample(samples: Sequence[Sample], limit: int = CHART_POINTS) -> list[Sample]:
    """At most `limit` (at least 2) of `samples` (oldest first), evenly spread over time."""
    if limit < 2:
        raise ValueError("a series is thinned to 2 points at least")
    if len(samples) <= limit:
        return list(samples)
    first, last = samples[0][0], samples[-1][0]
    width = (last - first) / (limit - 1)
    kept: list[Sample] = [samples[0]]
    span_of_kept = 0
    for sample in samples[1:]:
        span = min(limit - 1, 1 + int((sample[0] - first) / width)) if width else limit - 1
        if span == span_of_kept:
            kept[-1] = sample  # a later sample of the same span
        else:
            kept.append(sample)
            span_of_kept = span
    return kept
