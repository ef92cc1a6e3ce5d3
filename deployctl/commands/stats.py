"""`deployctl stats [APP]`: requests from nginx's logs, over any range, drawn in 80 columns."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from deployd.protocol.stats import By, LivePoint, Point, StatsResult, Totals
from deployd.protocol.system import DiskResult, TopResult

from .. import render
from ..session import JsonFlag, session


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def _summary(totals: Totals) -> str:
    return (
        f"{totals.requests:,} requests, 5xx {totals.errors_rate * 100:.1f} %, "
        f"p50 {_ms(totals.p50_ms)}, p95 {_ms(totals.p95_ms)}, p99 {_ms(totals.p99_ms)}, "
        f"{render.size(totals.bytes)}, {totals.visitors:,} visitors"
    )


def stats(
    app: Annotated[str | None, typer.Argument(help="One app (default: every app).")] = None,
    since: Annotated[
        str, typer.Option("--since", help="90m, 2h, 7d, 2w, or 2026-11-01..2026-11-15.")
    ] = "24h",
    by: Annotated[By | None, typer.Option("--by", help="Break the requests down.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows of the breakdown.")] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Live: the app's requests each second.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Requests, 5xx rate, latency percentiles, bandwidth and visitors, from nginx's logs."""
    if follow:
        if app is None:
            raise typer.BadParameter("name the app to follow", param_hint="APP")
        _follow(app, json)
        return
    params = {"app": app, "since": since, "by": by, "limit": limit}
    result: StatsResult = session(json).call("stats.show", params)
    if json:
        render.emit_json(result)
        return
    span = f"{render.when(result.since)} to {render.when(result.until)}, by {result.resolution}"
    if app is None:
        if not result.apps:
            render.out().print(render.text(f"no requests {span}"))
            return
        render.table(
            ["APP", "REQUESTS", "5XX", "P95", "BANDWIDTH", "VISITORS"],
            [
                [
                    a.app,
                    f"{a.totals.requests:,}",
                    f"{a.totals.errors_rate * 100:.1f} %",
                    _ms(a.totals.p95_ms),
                    render.size(a.totals.bytes),
                    f"{a.totals.visitors:,}",
                ]
                for a in result.apps
            ],
            title=span,
        )
        return
    totals = result.apps[0].totals
    out = render.out()
    out.print(render.text(f"{app}: {span}", style="bold"))
    out.print(render.text(_summary(totals)))
    if result.series:
        out.print(render.text(f"requests  {render.sparkline([p.requests for p in result.series])}"))
        out.print(render.text(f"5xx       {render.sparkline([p.errors for p in result.series])}"))
        out.print(render.text(f"p95       {render.sparkline([_p95(p) for p in result.series])}"))
    classes = "  ".join(f"{k} {v:,}" for k, v in sorted(totals.statuses.items()))
    out.print(render.text(f"statuses  {classes or '-'}"))
    if result.unparsed:
        out.print(render.text(f"({result.unparsed:,} log lines were not requests)", style="dim"))
    if by is not None:
        render.table(
            [by.upper(), "REQUESTS"], [[e.key, f"{e.requests:,}"] for e in result.breakdown]
        )


def _p95(point: Point) -> float:
    return point.p95_ms or 0.0


def top(json: JsonFlag = False) -> None:
    """The host's CPU, memory, load, network and disks; each app's processes' CPU and RSS."""
    result: TopResult = session(json).call("system.top", {})
    if json:
        render.emit_json(result)
        return
    host = result.host
    load = " ".join(f"{x:.2f}" for x in host.load)
    render.pairs(
        [
            ("cpu", f"{host.cpu_percent:.0f} % of {host.cpus} cores, load {load}"),
            (
                "memory",
                f"{render.size(host.memory_used)} used of {render.size(host.memory_total)}",
            ),
            (
                "network",
                f"{render.size(int(host.net_received_per_s))}/s in, "
                f"{render.size(int(host.net_sent_per_s))}/s out",
            ),
            *(
                (
                    "disk",
                    f"{d.path}: {render.size(d.total_bytes - d.free_bytes)} used, "
                    f"{render.size(d.free_bytes)} free" + ("  LOW" if d.low else ""),
                )
                for d in host.disks
            ),
        ]
    )
    if not result.apps:
        render.out().print(render.text("no app processes running"))
        return
    render.table(
        ["APP", "PROCESS", "PID", "CPU", "RSS"],
        [
            [a.app, p.name, str(p.pid), f"{p.cpu_percent:.1f} %", render.size(p.rss_bytes)]
            for a in result.apps
            for p in a.processes
        ],
    )


def disk(json: JsonFlag = False) -> None:
    """Per app: builds, logs, images, databases; the host's disks and the backups."""
    result: DiskResult = session(json).call("system.disk", {})
    if json:
        render.emit_json(result)
        return
    render.table(
        ["APP", "BUILDS", "LOGS", "IMAGES", "DATABASES", "TOTAL"],
        [
            [
                a.app,
                render.size(a.builds_bytes),
                render.size(a.logs_bytes),
                render.size(a.images_bytes),
                render.size(a.databases_bytes),
                render.size(a.builds_bytes + a.logs_bytes + a.images_bytes + a.databases_bytes),
            ]
            for a in result.apps
        ],
    )
    render.pairs(
        [
            ("backups", render.size(result.backups_bytes)),
            *(
                (
                    "disk",
                    f"{d.path}: {render.size(d.free_bytes)} free of {render.size(d.total_bytes)}"
                    + ("  LOW" if d.low else ""),
                )
                for d in result.host
            ),
        ]
    )


def _follow(app: str, json: bool) -> None:
    """One line a second (one JSON document a line with --json) until Ctrl-C."""
    recent: list[float] = []
    with session(json).connect(timeout=None) as client:
        _, stream = client.stream("stats.follow", {"app": app})
        if not json:
            render.err().print(render.text(f"{app}, live (Ctrl-C to stop)", style="bold"))
        for params in stream:
            point = LivePoint.model_validate(params)
            if json:
                sys.stdout.write(point.model_dump_json() + "\n")
                sys.stdout.flush()
                continue
            recent = [*recent, float(point.requests)][-30:]
            classes = " ".join(f"{k} {v}" for k, v in sorted(point.statuses.items())) or "-"
            render.out().print(
                render.text(
                    f"{point.at:%H:%M:%S} {point.requests:>6} req/s  {classes:<24} "
                    f"p95 {_ms(point.p95_ms):>7}  {render.sparkline(recent, 30)}"
                )
            )
