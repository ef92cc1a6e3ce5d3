"""What may reach a terminal of what the daemon, a deployer or an app wrote.

Shared by the CLI's printing and the TUI: every control character but newline and tab is
shown escaped (`\\x1b`), never sent, so an app's log line cannot retitle the terminal,
write the clipboard (OSC 52), move the cursor or make the terminal answer with key
presses the TUI would then act on; and values become `Text`, never markup, so a crafted
name cannot restyle the screen or break the markup parser.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f]")


def terminal_safe(value: str) -> str:
    """`value` with its control characters (all but newline and tab) escaped."""
    return _CONTROL.sub(_escape, value)


def one_line(value: str) -> str:
    """`value` on one line: newlines and tabs escaped too (a table cell, a log line)."""
    return _CONTROL_OR_NEWLINE.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def text(value: object, style: str = "") -> Text:
    from rich.text import Text

    return Text("" if value is None else terminal_safe(str(value)), style=style)


def cell(value: object, style: str = "") -> Text:
    """A table cell or a line of a panel: one line, as plain text."""
    from rich.text import Text

    return Text("" if value is None else one_line(str(value)), style=style)
