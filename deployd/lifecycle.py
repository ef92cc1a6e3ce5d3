"""Process-level plumbing of the daemon: the single-instance lock and systemd readiness."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Notifier:
    """systemd's notify socket and watchdog (Type=notify, WatchdogSec), taken out of the
    environment at start: no child of the daemon (an app's launcher, pip, a tool) inherits
    them, so none can speak for deployd.service (systemd logs and drops what they send)."""

    address: str | None
    watchdog_usec: int | None

    @classmethod
    def claim(cls) -> Notifier:
        address = os.environ.pop("NOTIFY_SOCKET", None) or None
        usec = os.environ.pop("WATCHDOG_USEC", None)
        pid = os.environ.pop("WATCHDOG_PID", None)
        mine = usec is not None and usec.isdigit() and (not pid or pid == str(os.getpid()))
        return cls(address, int(usec) if mine and usec else None)

    def notify(self, state: str) -> None:
        """A no-op when not started by systemd."""
        if not self.address:
            return
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            sock.sendto(state.encode(), address)

    @property
    def watchdog_interval(self) -> float | None:
        """Half of systemd's WatchdogSec, when it expects keep-alives from this process."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None


async def feed_watchdog(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 while the event loop runs: a daemon that hangs stops sending them, and
    systemd restarts it as if it had crashed."""
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)
