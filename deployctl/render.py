"""Everything a person sees. Services return data; this turns it into tables and lines.

Values that come from users (names, targets, messages) go through `terminal.text`:
`Text`, never markup, with control characters shown escaped (see deployctl/terminal.py).
`--json` carries the raw text. rich is imported on first use: `--json` output and
scripts never pay for it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .terminal import terminal_safe as terminal_safe
from .terminal import text as text

if TYPE_CHECKING:
    from rich.console import Console


PIPED_WIDTH = 10_000
"""Output to a pipe or a file is never cut to fit a terminal: tables are as wide as their
content (scripts and `grep` see every character)."""


@cache
def out() -> Console:
    from rich.console import Console

    width = None if sys.stdout.isatty() else PIPED_WIDTH
    return Console(highlight=False, soft_wrap=True, width=width)


@cache
def err() -> Console:
    from rich.console import Console

    width = None if sys.stderr.isatty() else PIPED_WIDTH
    return Console(stderr=True, highlight=False, soft_wrap=True, width=width)


def emit_json(value: BaseModel | dict[str, Any] | list[Any]) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    else:
        text = json.dumps(value, indent=2, default=str)
    sys.stdout.write(text + "\n")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    from rich.table import Table

    grid = Table(*columns, title=title, box=None, header_style="bold", pad_edge=False)
    for row in rows:
        grid.add_row(*(text(v) for v in row))
    out().print(grid)


def pairs(items: Iterable[tuple[str, Any]]) -> None:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in items:
        grid.add_row(key, text(value))
    out().print(grid)


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S")


def ago(moment: datetime) -> str:
    return span((datetime.now(UTC) - moment).total_seconds()) + " ago"


def span(seconds: float) -> str:
    delta = timedelta(seconds=int(seconds))
    days, rest = delta.days, delta.seconds
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


BLOCKS = "▁▂▃▄▅▆▇█"
SPARKLINE_WIDTH = 60


def sparkline(values: list[float], width: int = SPARKLINE_WIDTH, *, low: float = 0.0) -> str:
    """One character per value (the values folded into `width` by their maximum), from
    `low` (the lowest block) to the largest value (the highest)."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [
            max(values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
            for i in range(width)
        ]
    top = (max(values) - low) or 1.0
    return "".join(
        BLOCKS[max(0, min(len(BLOCKS) - 1, int((v - low) / top * (len(BLOCKS) - 1) + 0.5)))]
        for v in values
    )


def release(number: int | None) -> str:
    """Releases are numbered per app and shown as Heroku shows them: v1, v2, ..."""
    return f"v{number}" if number is not None else "-"


def success(message: str) -> None:
    out().print(text(message))


def failure(message: str) -> None:
    err().print(text(message, style="bold red"))


def secret_once(label: str, value: str) -> None:
    out().print(text(f"{label}: ", style="bold") + text(value))
    err().print(text("Shown once: store it now.", style="yellow"))
