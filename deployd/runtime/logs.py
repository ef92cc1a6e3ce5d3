"""Reading the end of a slot's log (written by its launcher) without reading all of it."""

from __future__ import annotations

from pathlib import Path

TAIL_CHUNK = 64 * 1024
MAX_TAIL_BYTES = 4 * 1024 * 1024
"""However few newlines a log has, no more than this is read to find its last lines."""


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines, reading only the end of a large file (blocking: call it in
    a thread)."""
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
        return []
    return data.decode(errors="replace").splitlines()[-lines:]
