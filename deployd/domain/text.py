"""Quoting what users and apps wrote inside our own messages.

A message that quotes user content (a Procfile line, a name, a link target, a program's
last words) is stored in events, shown in terminals and sent over the socket: it quotes at
most a short excerpt with every control character escaped, so a 1 MB line is not stored
whole and no escape sequence reaches a terminal.
"""

from __future__ import annotations

EXCERPT_CHARS = 60


def escape(value: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `value`, control characters escaped, `…` if cut."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return repr(value[:limit])[1:-1] + ("…" if len(value) > limit else "")


def excerpt(value: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    """`escape`, in quotes: for quoting a value inside a sentence."""
    return f"'{escape(value, limit)}'"


def last_line(output: str) -> str:
    """What a program that failed said last (its error, as a rule)."""
    lines = output.strip().splitlines()
    return lines[-1] if lines else "no message"
