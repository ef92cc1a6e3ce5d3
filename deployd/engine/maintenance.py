"""Housekeeping the daemon does on a timer: rotating app logs by size.

App processes append straight to their slot's log file (O_APPEND), so rotation copies the
file aside and truncates it in place: the writer keeps its descriptor and simply continues
at the new end. A few lines written between the copy and the truncate can be lost; that
is the price of never making the app reopen anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from .platform import Platform

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 10.0


def rotate(path: Path, max_bytes: int, keep: int) -> bool:
    """Rotate `path` to `path.1` … `path.<keep>` when it outgrew `max_bytes`."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for index in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{index + 1}"))
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    with path.open("r+b") as fh:
        fh.truncate(0)
    return True


def rotate_all(logs_root: Path, max_bytes: int, keep: int) -> int:
    rotated = 0
    for path in logs_root.glob("*/*.log"):
        if not path.name.startswith("build-") and rotate(path, max_bytes, keep):
            rotated += 1
    return rotated


async def run(platform: Platform) -> None:
    settings = platform.settings
    logs_root = platform.paths.log_dir / "apps"
    while True:
        with contextlib.suppress(OSError):
            count = await asyncio.to_thread(
                rotate_all, logs_root, settings.log_max_bytes, settings.log_keep
            )
            if count:
                log.info("rotated %d app log files", count)
        await asyncio.sleep(INTERVAL_SECONDS)
