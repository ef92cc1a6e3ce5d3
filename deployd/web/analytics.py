"""An app's Analytics tab: `GET /apps/{name}/analytics?since=24h`, the figures
`deployctl stats APP` prints (totals, latency percentiles, statuses, the series) and its
breakdowns (paths, referrers, status codes), with the charts drawn here as inline SVG.

Every figure is the daemon's `stats.show` answer to the person's own calls: one per
breakdown, asked at once.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.responses import Response

from deployd.protocol.stats import By, StatsParams, StatsResult, Totals

from . import charts, views
from .guard import Visit, page
from .pages import app_name
from .tabs import app_header

RANGES = {"1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}
DEFAULT_RANGE = "24h"
TOP_ROWS = 10
BREAKDOWNS: tuple[By, ...] = ("path", "referrer", "status")


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def figures(totals: Totals) -> list[tuple[str, str]]:
    """The totals as the panel lists them: what, how much."""
    return [
        ("requests", f"{totals.requests:,}"),
        ("visitors", f"{totals.visitors:,}"),
        ("5xx", f"{totals.errors_rate:.1%}"),
        ("p50", ms(totals.p50_ms)),
        ("p95", ms(totals.p95_ms)),
        ("p99", ms(totals.p99_ms)),
        ("bandwidth", views.size(totals.bytes)),
    ]


@page
async def show(visit: Visit) -> Response:
    name = app_name(visit.request)
    since = visit.request.query_params.get("since", DEFAULT_RANGE)
    if since not in RANGES:
        raise HTTPException(400, f"since must be one of {', '.join(RANGES)}")
    header, *answers = await asyncio.gather(
        app_header(visit, name),
        *(
            visit.daemon.call(
                StatsResult,
                "stats.show",
                StatsParams(app=name, since=since, by=by, limit=TOP_ROWS),
            )
            for by in BREAKDOWNS
        ),
    )
    result = answers[0]
    breakdowns = dict(zip(BREAKDOWNS, (a.breakdown for a in answers), strict=True))
    totals = result.apps[0].totals
    series = charts.periods(result.series, result.since, result.until, result.resolution)
    return visit.render(
        "analytics.html",
        {
            **header,
            "tab": "analytics",
            "since": since,
            "ranges": RANGES,
            "result": result,
            "totals": totals,
            "figures": figures(totals),
            "requests": charts.requests_chart(series, result.resolution),
            "latency": charts.latency_chart(series, result.resolution),
            "statuses": charts.status_bars(totals.statuses),
            "bars_height": charts.bars_height(),
            "bars_width": charts.WIDTH,
            "bars_left": charts.BARS_LEFT,
            "bar_height": charts.BAR_HEIGHT,
            "bars_room": charts.WIDTH - charts.BARS_LEFT - charts.BARS_RIGHT,
            "paths": breakdowns["path"],
            "referrers": breakdowns["referrer"],
            "codes": breakdowns["status"],
        },
    )
