"""What the database pages show, worked out from the daemon's answers: pure, no I/O, so
the chart and the rows are tested without a browser (as views.py is for the apps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployd.protocol.databases import BackupInfo, DbInfo, SizeHistory

from .views import size, when

CHART_WIDTH = 600
CHART_HEIGHT = 120


def growth(n: int) -> str:
    """A change in size, signed: `+1.2 MiB`, `-512 B`, `±0 B`."""
    if n == 0:
        return "±0 B"
    return ("+" if n > 0 else "-") + size(abs(n))


@dataclass(frozen=True)
class SizeChart:
    """An inline SVG's polyline over a database's size history, with what is said about
    it in words (the chart is a picture; the caption and labels carry the numbers)."""

    points: str
    """The polyline's points in a CHART_WIDTH by CHART_HEIGHT box; empty when there are
    fewer than two samples (nothing to draw a line between)."""
    area: str
    """The same line closed along the bottom edge: the shaded area under it."""
    top: str
    """The size at the chart's top edge (its largest sample)."""
    bottom: str
    """The size at its bottom edge (its smallest sample: the growth is what shows)."""
    caption: str
    first: str
    last: str
    """When the first and the last sample were taken."""


def size_chart(
    history: SizeHistory | None, width: int = CHART_WIDTH, height: int = CHART_HEIGHT
) -> SizeChart:
    """The size over time, left (oldest) to right, scaled between the smallest and the
    largest sample so a database that grows by a few KiB still shows it; placed by time,
    not by index, since samples stop while the daemon is down."""
    points = history.points if history else []
    if len(points) < 2:
        return SizeChart(
            "", "", "", "", "size: not measured yet (the daemon samples it every 5 minutes)", "", ""
        )
    low = min(p.bytes for p in points)
    high = max(p.bytes for p in points)
    start, end = points[0].at, points[-1].at
    span = (end - start).total_seconds() or 1.0
    spread = (high - low) or 1
    usable = height - 4  # the line's own width stays inside the box
    xy = [
        (
            (p.at - start).total_seconds() / span * width,
            2 + usable - (usable * (p.bytes - low) / spread if high > low else usable / 2),
        )
        for p in points
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    area = f"0,{height} {line} {width},{height}"
    grown = points[-1].bytes - points[0].bytes
    return SizeChart(
        points=line,
        area=area,
        top=size(high),
        bottom=size(low),
        caption=(
            f"{growth(grown)} since {when(start)} "
            f"(from {size(points[0].bytes)} to {size(points[-1].bytes)})"
        ),
        first=when(start),
        last=when(end),
    )


def links(db: DbInfo) -> str:
    return ", ".join(
        link.app if link.variable == "DATABASE_URL" else f"{link.app} ({link.variable})"
        for link in db.links
    )


def state(db: DbInfo) -> str:
    """One word on its health, as the list shows it: unreachable, overdue, or ok."""
    if not db.reachable:
        return "unreachable"
    if db.backup_overdue:
        return "backup overdue"
    return "ok"


def db_row(db: DbInfo) -> dict[str, Any]:
    return {
        "name": db.name,
        "size": size(db.size_bytes),
        "links": links(db) or "—",
        "apps": [link.app for link in db.links],
        "connections": "?" if db.connections is None else str(db.connections),
        "last_backup": when(db.last_verified_at),
        "schedule": db.schedule or "none",
        "state": state(db),
        "bad": not db.reachable or db.backup_overdue,
    }


def backup_row(backup: BackupInfo) -> dict[str, Any]:
    if backup.remote is None:
        remote = "—"
    elif backup.remote == "failed" and backup.remote_next_try_at:
        remote = f"failed, tried again {when(backup.remote_next_try_at)}"
    else:
        remote = backup.remote
    contents = "—"
    if backup.tables is not None:
        contents = f"{backup.tables} tables, {backup.rows or 0:,} rows"
    return {
        "id": backup.id,
        "time": when(backup.started_at),
        "status": backup.status,
        "size": size(backup.size_bytes) if backup.size_bytes is not None else "—",
        "contents": contents,
        "where": backup.location,
        "remote": remote,
        "trigger": backup.trigger,
        "error": backup.error
        or (f"remote copy: {backup.remote_error}" if backup.remote_error else ""),
        "restorable": backup.status == "verified",
    }


def typed_name_matches(typed: str, name: str) -> bool:
    """The confirmation a destructive action asks for: the database's name, typed out
    (spaces around it forgiven, nothing else)."""
    return typed.strip() == name


def schedule_words(text: str) -> list[str]:
    """`daily 03:00` as the daemon takes it (`["daily", "03:00"]`); `off` or nothing is
    no schedule."""
    words = text.split()
    return words or ["off"]
