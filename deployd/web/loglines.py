"""The lines of an app's runtime log as the Logs tab shows and resumes them: pure, no
I/O, so the rules are tested without a browser.

A line is the app's own text: hostile. Control and bidi characters are shown escaped and
a line is cut at `LINE_CHARS`; the page and the script only ever set it as text.

The daemon's log has no line numbers to resume from; its lines carry a millisecond time
stamp. So the SSE id of a batch is a cursor naming its last line: its stamp, how many
copies of it came in a row, a digest of it (`2026-11-30T05:40:00.123Z~1~3f9a0c2b7d1e`).
A stream that ended comes back with it: the daemon is asked for the lines since a little
before that stamp, and those up to that line are skipped (`Resume`). Stamps alone would
not do: the processes of an app (of two releases, during a deploy) and the daemon write
the one log side by side, a few milliseconds out of their stamps' order.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import views

LINE_CHARS = 2000
"""A longer line is shown cut, saying how much was left out."""
STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
LINE = re.compile(
    r"(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z) "
    r"(?P<source>[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[0-9]+)?\[v[0-9]+\]): ?(?P<text>.*)",
    re.S,
)
"""The runtime log's line as the daemon writes it: `STAMP web.1[v12]: text`."""
CURSOR = re.compile(rf"({STAMP.pattern})~([0-9]{{1,6}})(?:~([0-9a-f]{{12}}))?")
LATE = timedelta(seconds=1)
"""Lines of the one log are at most this far out of their stamps' order."""
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Control characters (tab kept) and those that reorder text on screen (bidi)."""


def safe(text: str) -> str:
    """`text` with its control and bidi characters shown as escapes, never acted on."""
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def bounded(line: str) -> str:
    """A line of build output as a page shows it: cut at LINE_CHARS, escaped (the app's
    build wrote it: hostile text, like its log)."""
    cut = len(line) - LINE_CHARS
    return safe(line[:LINE_CHARS]) + (f"… [{cut:,} more characters]" if cut > 0 else "")


def stamp_of(line: str) -> str | None:
    head = line[:24]
    return head if STAMP.fullmatch(head) else None


def shown(line: str) -> dict[str, Any]:
    """A line as the page draws it (and the stream sends it): its time, its process and
    release, its text cut at LINE_CHARS, escaped."""
    bounded = line[: LINE_CHARS * 2]  # the pattern never reads a megabyte
    found = LINE.fullmatch(bounded)
    stamp, source, text = (
        (found["stamp"], found["source"], found["text"]) if found else ("", "", bounded)
    )
    cut = max(len(line) - (len(bounded) - len(text)) - LINE_CHARS, 0)
    at = _parse(stamp)
    return {
        "at": at.isoformat() if at else "",
        "time": views.clock(at) if at else "",
        "source": source,
        "marker": source.startswith("deployd["),
        "text": safe(text[:LINE_CHARS]),
        "cut": cut,
    }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class Cursor:
    """Where a stream has got to: the last line shown (its stamp and a digest of it) and
    how many copies of it came in a row; or, with no digest, a moment (the page had no
    line: every line stamped from then on is new)."""

    stamp: str
    seen: int = 0
    digest: str = ""

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        found = CURSOR.fullmatch((raw or "").strip())
        if found is None or _parse(found[1]) is None or bool(found[3]) != (found[2] != "0"):
            return None
        return cls(found[1], int(found[2]), found[3] or "")

    @classmethod
    def now(cls) -> Cursor:
        return cls(_stamp(datetime.now(UTC)))

    @classmethod
    def after(cls, lines: list[str], before: Cursor) -> Cursor:
        """The cursor past `lines` (those read), or `before` (the moment before they were
        read) when none has a stamp."""
        cursor: Cursor | None = None
        for line in lines:
            cursor = past(cursor, line)
        return cursor or before

    def text(self) -> str:
        return f"{self.stamp}~{self.seen}" + (f"~{self.digest}" if self.digest else "")

    def since(self, now: datetime) -> str | None:
        """A span the daemon takes that reaches back to a little before the stamp."""
        at = _parse(self.stamp) or now
        seconds = max(math.ceil((now - at).total_seconds()), 0) + 2
        return f"{seconds}s" if seconds < 1_000_000 else None


def digest(line: str) -> str:
    return hashlib.sha256(line.encode(errors="replace")).hexdigest()[:12]


def past(cursor: Cursor | None, line: str) -> Cursor | None:
    """The cursor once `line` has been sent (a line without a stamp leaves it)."""
    stamp = stamp_of(line)
    if stamp is None:
        return cursor
    mark = digest(line)
    if cursor is not None and cursor.stamp == stamp and cursor.digest == mark:
        return Cursor(stamp, cursor.seen + 1, mark)
    return Cursor(stamp, 1, mark)


class Resume:
    """Skips what a resumed stream sends again. The daemon sends the lines since a little
    before the cursor's stamp in the log's order, which is the order they were shown in:
    every line up to the cursor's line (its `seen`-th copy) was shown. Stamps alone would
    not do: processes write the one log side by side, a few milliseconds out of order.

    Should the cursor's line be gone (the log rotated), a line stamped a second after it
    ends the skipping. A moment's cursor skips the lines stamped before it."""

    def __init__(self, cursor: Cursor | None) -> None:
        self.cursor = cursor
        self.matched = 0
        self.late = ""
        if cursor is not None:
            at = _parse(cursor.stamp)
            self.late = _stamp(at + LATE) if at else ""

    def fresh(self, line: str) -> bool:
        cursor = self.cursor
        if cursor is None:
            return True
        stamp = stamp_of(line)
        if not cursor.digest:  # a moment
            if stamp is None or stamp >= cursor.stamp:
                self.cursor = None
                return True
            return False
        if stamp is not None and stamp > self.late:
            self.cursor = None
            return True
        if stamp == cursor.stamp and digest(line) == cursor.digest:
            self.matched += 1
            if self.matched >= cursor.seen:
                self.cursor = None
        return False
