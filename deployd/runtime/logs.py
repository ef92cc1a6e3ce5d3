"""An app's runtime log: reading its end without reading all of it, filtering its lines by
process and time, and the daemon's own marker lines in it.

The launchers (the daemon's own processes) write the lines; the app never holds the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from deployd.domain.logline import format_line, parse_line

MARKER_SOURCE = "deployd"

TAIL_CHUNK = 64 * 1024
MAX_TAIL_BYTES = 4 * 1024 * 1024
"""However few newlines a log has, no more than this is read to find its last lines."""


def of_release(release: int) -> Callable[[str], bool]:
    """Keeps the lines of one release's processes (and the daemon's markers for it)."""

    def keep(line: str) -> bool:
        parsed = parse_line(line)
        return parsed is not None and parsed.release == release

    return keep


def matching(process: str | None, since: datetime | None) -> Callable[[str], bool] | None:
    """Keeps the lines of one process type (`worker`) or process (`worker.2`) written at or
    after `since`; the daemon's markers pass the process filter. None: keep every line."""
    if process is None and since is None:
        return None

    def keep(line: str) -> bool:
        parsed = parse_line(line)
        if parsed is None or (since is not None and parsed.at < since):
            return False
        if process is None or parsed.source == MARKER_SOURCE:
            return True
        return process in (parsed.source, parsed.type)

    return keep


def mark(path: Path, release: int, text: str) -> None:
    """Appends the daemon's own line (a release starting, a restart) to an app's log
    (blocking: call it in a thread)."""
    line = format_line(datetime.now(UTC), MARKER_SOURCE, release, text) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def tail(path: Path, lines: int, keep: Callable[[str], bool] | None = None) -> list[str]:
    """The last `lines` lines (that `keep` keeps), reading only the end of a large file
    (blocking: call it in a thread)."""
    return tail_to(path, lines, keep)[0]


def tail_to(
    path: Path, lines: int, keep: Callable[[str], bool] | None = None
) -> tuple[list[str], int]:
    """`tail`'s complete lines, and the offset just after the last of them: where a
    follower carries on, so a line written meanwhile (or half written now) is neither
    lost nor cut in two."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            data = b""
            offset = size
            while offset > 0 and data.count(b"\n") <= lines and size - offset < MAX_TAIL_BYTES:
                offset = max(0, offset - TAIL_CHUNK)
                fh.seek(offset)
                data = fh.read(size - offset)
    except FileNotFoundError:
        return [], 0
    complete = data.rfind(b"\n") + 1  # a line still being written is the follower's
    if complete == 0 and len(data) < size:  # no line end in what was read: start at the end
        return [], size
    found = data[:complete].decode(errors="replace").splitlines()
    if keep is not None:
        found = [line for line in found if keep(line)]
    return found[-lines:] if lines else [], size - len(data) + complete
