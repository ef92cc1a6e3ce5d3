"""The runtime log's line: when, which process of which release, and what it said.

    2026-11-29T11:50:39.123Z web.1[v12]: GET / 200
    2026-11-29T11:50:40.002Z deployd[v12]: v12 starts in the green slot: web=2, worker=1

Every process's launcher writes whole lines in this form to the app's one log, and the
daemon adds marker lines, so `logs` and `logs -f` print the same thing, and filters by
process type, release and time work on the line itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

LINE = re.compile(r"^(\S+) ([A-Za-z0-9][A-Za-z0-9_-]*(?:\.[0-9]+)?)\[v([0-9]+)\]: ?(.*)$", re.S)


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    source: str
    """A process (`web.1`) or `deployd` for the daemon's own markers."""
    release: int
    """The release's number (v<release>)."""
    text: str

    @property
    def type(self) -> str:
        return self.source.rsplit(".", 1)[0]


def stamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def probe_pattern(path: str) -> re.Pattern[str]:
    """An access-log line of a GET (or HEAD) of `path`, as the usual servers write one:
    `"GET /health HTTP/1.1" 200` (gunicorn, uvicorn, http.server, nginx, Apache, morgan's
    combined) or `GET /health 200 1.2 ms` (morgan's dev, Rails' `Started GET "/health"`).
    The app's own lines of deployd's probes are left out of its log with it."""
    quoted = re.escape(path)
    request = rf"""(?:^|[\s"'])(?:GET|HEAD) "?{quoted}(?:\?\S*)?"?"""
    then = r"""(?:\s+HTTP/[0-9.]+"?|\s+[0-9]{3}\b|\s+for\s)"""  # a protocol, status, "for"
    return re.compile(request + then)


def format_line(moment: datetime, source: str, release: int, text: str) -> str:
    return f"{stamp(moment)} {source}[v{release}]: {text}"


def parse_line(line: str) -> LogLine | None:
    """None for a line in no known form (an older deployd's, say)."""
    match = LINE.fullmatch(line)
    if match is None:
        return None
    try:
        at = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return LogLine(at, match[2], int(match[3]), match[4])
