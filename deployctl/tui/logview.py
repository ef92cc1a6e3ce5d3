"""A live log viewer that neither freezes nor goes quiet.

Lines are kept in a bounded buffer (the newest `BUFFER` lines) and only the newest
`SHOWN` matching ones are drawn; a line longer than `LINE_CHARS` is drawn cut, with how
much was left out (lazydocker#221: one huge line froze the screen). Lines arrive in
batches painted at most every `PAINT_SECONDS`, so a chatty app costs a repaint a tick, not
a repaint a line. When the stream drops the badge says so at once and the stream comes
back by itself, resuming from the last line seen (k9s#516, #1381).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from itertools import islice
from typing import Any

from pydantic import ValidationError
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, RichLog, Static

from deployd.protocol.apps import LogLine, LogsFollowParams
from deployd.protocol.errors import RpcError

from ..aio import AsyncClient, Link
from ..terminal import one_line
from .daemon import Daemon

BUFFER = 100_000
SHOWN = 5_000
LINE_CHARS = 2_000
PAINT_SECONDS = 0.05
FIRST_LINES = 500
STAMP_CHARS = len("2026-11-29T22:00:00.123Z ")


def shown(line: str, *, stamps: bool, needle: str) -> Text:
    """A buffered line as drawn: cut to LINE_CHARS, its time stamp kept or not, the search
    highlighted."""
    if not stamps and len(line) > STAMP_CHARS and line[STAMP_CHARS - 2] == "Z":
        line = line[STAMP_CHARS:]
    line = one_line(line[: LINE_CHARS * 4])  # what an app wrote never reaches the terminal raw
    cut = len(line) - LINE_CHARS
    text = Text(line[:LINE_CHARS] if cut > 0 else line, no_wrap=False)
    if cut > 0:
        text.append(f" … [{cut:,} more characters]", style="dim italic")
    if needle:
        text.highlight_words([needle], style="reverse yellow", case_sensitive=False)
    return text


class LogView(Vertical):
    """An app's runtime log, followed live."""

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("t", "toggle_stamps", "Times"),
        Binding("slash", "search", "Search"),
        Binding("ctrl+f", "filter", "Filter"),
        Binding("g", "top", "Top", show=False),
        Binding("G", "bottom", "Bottom", show=False),
        Binding("escape", "clear", "Clear", show=False),
    ]

    follow: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)
    stamps: reactive[bool] = reactive(True)
    link: reactive[Link] = reactive(Link.CONNECTING)

    def __init__(self, daemon: Daemon, app_name: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.daemon = daemon
        self.app_name = app_name
        self.buffer: deque[str] = deque(maxlen=BUFFER)
        self.received = 0
        self._pending: list[str] = []
        self._paint_due = False
        self._mode = "search"
        self.needle = ""
        self.only = ""
        self._reason: str | None = None
        self._last_stamp = ""
        self._last_at = 0.0
        self._resumed_at = ""
        """While a resumed stream replays lines up to this stamp, those already seen are
        skipped; live lines are never (an app may print the same line twice in a
        millisecond)."""

    def compose(self) -> ComposeResult:
        yield Static(id="log-status")
        yield Input(placeholder="search", id="log-input", classes="hidden", compact=True)
        yield RichLog(max_lines=SHOWN, wrap=False, id="log-lines")

    def on_mount(self) -> None:
        self._status()
        self.stream()

    @property
    def lines(self) -> RichLog:
        return self.query_one("#log-lines", RichLog)

    @work(exclusive=True, group="log-stream", exit_on_error=False)
    async def stream(self) -> None:
        try:
            async for item in self.daemon.stream(self._open, self._on_link):
                line = LogLine.model_validate(item).line
                if self._already_seen(line):
                    continue
                self._last_stamp = line[: STAMP_CHARS - 1]
                self._last_at = time.monotonic()
                self.add([line])
        except (RpcError, ValidationError) as exc:  # the app was deleted, say
            self._reason = f"the stream ended: {exc}"
            self.link = Link.RECONNECTING
            self._status()

    async def _open(self, client: AsyncClient) -> AsyncIterator[dict[str, Any]]:
        if not self._last_stamp:
            asked = LogsFollowParams(app=self.app_name, lines=FIRST_LINES)
        else:  # resume: everything since the last line seen, less what we already have
            gap = int(time.monotonic() - self._last_at) + 2
            self._resumed_at = self._last_stamp
            asked = LogsFollowParams(app=self.app_name, lines=10_000, since=f"{gap}s")
        _, items = await client.stream("logs.follow", asked)
        return items

    def _already_seen(self, line: str) -> bool:
        if not self._resumed_at:
            return False
        stamp = line[: STAMP_CHARS - 1]
        if stamp > self._resumed_at:
            self._resumed_at = ""  # past the replay
            return False
        return stamp < self._resumed_at or line in islice(reversed(self.buffer), 50)

    def _on_link(self, link: Link, reason: str | None) -> None:
        self.link = link
        self._reason = reason

    def add(self, lines: list[str]) -> None:
        """Buffer lines; paint them with the others of this tick."""
        self.buffer.extend(lines)
        self.received += len(lines)
        self._pending.extend(lines)
        if not self._paint_due:
            self._paint_due = True
            self.set_timer(PAINT_SECONDS, self._paint)

    def _paint(self) -> None:
        self._paint_due = False
        pending, self._pending = self._pending, []
        self._write([line for line in pending if self._keeps(line)])
        self._status()

    def _write(self, lines: list[str], *, scroll_end: bool | None = None) -> None:
        """The newest SHOWN of `lines` in one write: a write per line costs the RichLog a
        scroll and, once full, a copy of its SHOWN lines each (a flood took a minute)."""
        drawn = [shown(line, stamps=self.stamps, needle=self.needle) for line in lines[-SHOWN:]]
        if drawn:
            self.lines.write(Text("\n").join(drawn), scroll_end=scroll_end)

    def _keeps(self, line: str) -> bool:
        return not self.only or self.only.lower() in line.lower()

    def repaint(self) -> None:
        """Draw again from the buffer (a filter, the search, wrap or time stamps changed)."""
        matching: list[str] = []
        for line in reversed(self.buffer):
            if self._keeps(line):
                matching.append(line)
                if len(matching) == SHOWN:
                    break
        log = self.lines
        log.clear()
        log.wrap = self.wrap
        self._write(matching[::-1], scroll_end=False)
        if self.follow:
            log.scroll_end(animate=False)
        self._status()

    def _status(self) -> None:
        parts = [f"{len(self.buffer):,} lines"]
        parts.append("following" if self.follow else "paused")
        if self.only:
            parts.append(f"filter: {self.only}")
        if self.needle:
            parts.append(f"search: {self.needle}")
        status = Text("  ·  ".join(parts), style="dim")
        if self.link is Link.RECONNECTING:
            badge = Text(" disconnected — reconnecting ", style="bold white on red")
            status = Text.assemble(badge, " ", (self._reason or "", "dim"), "  ", status)
        elif self.link is Link.CONNECTING:
            status = Text.assemble((" connecting ", "black on yellow"), " ", status)
        self.query_one("#log-status", Static).update(status)

    def watch_link(self) -> None:
        if self.is_mounted:
            self._status()

    def watch_follow(self, follow: bool) -> None:
        if self.is_mounted:
            self.lines.auto_scroll = follow
            if follow:
                self.lines.scroll_end(animate=False)
            self._status()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.repaint()

    def action_toggle_stamps(self) -> None:
        self.stamps = not self.stamps
        self.repaint()

    def action_search(self) -> None:
        self._ask("search", "search (highlight)", self.needle)

    def action_filter(self) -> None:
        self._ask("filter", "filter (only lines with)", self.only)

    def _ask(self, mode: str, placeholder: str, value: str) -> None:
        self._mode = mode
        field = self.query_one("#log-input", Input)
        field.placeholder = placeholder
        field.value = value
        field.remove_class("hidden")
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._mode == "filter":
            self.only = event.value
        else:
            self.needle = event.value
        event.input.add_class("hidden")
        self.lines.focus()
        self.repaint()

    def action_clear(self) -> None:
        self.query_one("#log-input", Input).add_class("hidden")
        if self.needle or self.only:
            self.needle = self.only = ""
            self.repaint()
        self.lines.focus()

    def action_top(self) -> None:
        self.follow = False
        self.lines.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.follow = True
