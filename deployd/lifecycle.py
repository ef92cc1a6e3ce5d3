"""Process-level plumbing of the daemon: the single-instance lock and systemd readiness."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import IO


class AlreadyRunning(RuntimeError):
    pass


class InstanceLock:
    """An flock on `<run dir>/deployd.lock`: held while the daemon lives, released by the
    kernel when it dies, so a crash never leaves a stale lock behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise AlreadyRunning(
                f"another deployd (pid {holder}) is already running on {self.path.parent}"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._fh.close()
            self._fh = None


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) about our state; a no-op when not started by systemd."""
    try:
        from systemd import daemon  # type: ignore[import-not-found]
    except ImportError:
        address = os.environ.get("NOTIFY_SOCKET")
        if not address:
            return
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            sock.sendto(state.encode(), address)
    else:
        daemon.notify(state)


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec, when it expects keep-alives from this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def feed_watchdog(interval: float) -> None:
    """WATCHDOG=1 while the event loop runs: a daemon that hangs stops sending them, and
    systemd restarts it as if it had crashed."""
    while True:
        sd_notify("WATCHDOG=1")
        await asyncio.sleep(interval)
