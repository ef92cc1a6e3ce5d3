"""Housekeeping the daemon does on a timer: rotating app logs by size, and saying so
(an event) when the disk under the data or log directory runs low.

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

from deployd.domain.healing import disk_is_low
from deployd.protocol.events import EventType

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
    low: set[Path] = set()
    while True:
        with contextlib.suppress(OSError):
            count = await asyncio.to_thread(
                rotate_all, logs_root, settings.log_max_bytes, settings.log_keep
            )
            if count:
                log.info("rotated %d app log files", count)
        try:
            await _watch_disks(platform, low)
        except Exception:
            log.exception("could not check the disks")
        await asyncio.sleep(INTERVAL_SECONDS)


async def _watch_disks(platform: Platform, low: set[Path]) -> None:
    """Announce a disk running low once, and once more when it recovers."""
    for path in dict.fromkeys((platform.paths.data_dir, platform.paths.log_dir)):
        usage = shutil.disk_usage(path)
        is_low = disk_is_low(usage.free, usage.total)
        if is_low and path not in low:
            low.add(path)
            log.error("the disk under %s is nearly full: %d bytes left", path, usage.free)
            await platform.bus.publish(
                EventType.DISK_LOW,
                f"the disk under {path} is nearly full ({usage.free} bytes left): "
                "app logs and builds there will fail",
                actor="deployd",
                data={"path": str(path), "free_bytes": usage.free},
            )
        elif not is_low and path in low:
            low.discard(path)
            await platform.bus.publish(
                EventType.DISK_OK,
                f"the disk under {path} has room again",
                actor="deployd",
                data={"path": str(path)},
            )
