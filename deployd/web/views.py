"""What the pages show, worked out from the daemon's answers: pure, no I/O, so the rules
are tested without a browser. The live stream sends the same dicts the pages are drawn
from, so a row added by the browser looks like one the server drew."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from deployctl.state import Badge, State
from deployd.protocol.events import Event, HostSample
from deployd.protocol.stats import AppStats, Point

GiB = 1024**3
BAD_ENDINGS = ("failed", "crashed", "crashlooping", "refused", "overdue", "rejected")
SPARK_WIDTH = 240
SPARK_HEIGHT = 40


UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(n: int | None) -> str:
    """Bytes as a person reads them; "?" when the daemon could not measure them."""
    if n is None:
        return "?"
    value = float(n)
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)  # pragma: no cover - the loop always returns


def when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "—"


def clock(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M:%S")


def host_fields(sample: HostSample | None) -> dict[str, str]:
    """The host panel's values, by the name of the cell each goes in."""
    if sample is None:
        return {}
    return {
        "cpu": f"{sample.cpu_percent:.0f} %",
        "memory": f"{sample.memory_used / GiB:.1f} of {sample.memory_total / GiB:.1f} GiB",
        "disk": f"{sample.disk_percent:.0f} % used",
        "load": f"{sample.load1:.2f}",
        "requests": f"{sample.requests_per_s:.1f}/s",
        "errors": f"{sample.errors_per_s:.1f}/s",
    }


def feed_item(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "time": clock(event.at),
        "kind": event.kind,
        "app": event.app or "",
        "message": event.message,
        "bad": event.kind.endswith(BAD_ENDINGS),
        "link": job_link(event),
    }


def job_link(event: Event) -> str:
    """A deploy's page, for the events of a job that has one ('' for any other)."""
    job = event.data.get("job")
    if not event.app or not isinstance(job, int) or not event.kind.startswith("deploy."):
        return ""
    return f"/apps/{event.app}/deploys/{job}"


def app_row(state: State, name: str, traffic: dict[str, AppStats] | None = None) -> dict[str, Any]:
    app = state.apps[name]
    stats = (traffic or {}).get(name)
    return {
        "name": name,
        "badge": state.badge(name).value,
        "release": f"v{app.live_release}" if app.live_release else "—",
        "url": app.url,
        "requests": stats.totals.requests if stats else 0,
    }


def counts(state: State) -> list[tuple[str, int]]:
    """Apps by badge, every badge named (the browser recounts them as badges change)."""
    counted = state.counts()
    return [(badge.value, counted[badge]) for badge in Badge]


def per_minute(points: list[Point], until: datetime, minutes: int = 60) -> list[int]:
    """Requests in each of the last `minutes` minutes up to `until`, 0 where none came."""
    end = until.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    values = [0] * minutes
    for point in points:
        index = int((point.at - start).total_seconds() // 60)
        if 0 <= index < minutes:
            values[index] += point.requests
    return values


def spark(values: list[int], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """An SVG polyline's points for `values`, left to right, the largest at the top (a
    flat line at the bottom when all are 0)."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    usable = height - 2  # the line's own width stays inside the box
    return " ".join(
        f"{i * step:.1f},{1 + usable - usable * value / top:.1f}" for i, value in enumerate(values)
    )


def sse(kind: str, data: dict[str, Any], event_id: int | None = None) -> str:
    """One Server-Sent Event. JSON has no raw line breaks, so `data` is one line."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


BACK = re.compile(r"/(apps|databases)/([a-z0-9][a-z0-9-]{0,62})(?:/|$)")
"""The app or database a path is about (`/apps/NAME/env/import`)."""


def back_link(path: str) -> tuple[str, str]:
    """Where an error page leads back to: the app or database the failed request was
    about (and its section), else the dashboard."""
    found = BACK.match(path)
    if found is None:
        return "/", "the dashboard"
    section = path[found.end() :].split("/")[0]
    anchor = f"#{section}" if found[1] == "apps" and section in ("env", "domains") else ""
    anchor = "#config" if anchor == "#env" else anchor
    return f"/{found[1]}/{found[2]}{anchor}", found[2]
