"""The `process` runtime: each slot is a process group the daemon starts and stops.

The process gets its own session (so it outlives the daemon, and a stop can signal the
whole group), writes straight into the slot's log file (no pipe through the daemon, so a
daemon restart cannot break it), and is identified by pid plus start time, so a recycled
pid is never mistaken for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from deployd import atomic
from deployd.build.sandbox import Account


@dataclass(frozen=True, slots=True)
class Handle:
    pid: int
    started_at: float
    """The kernel's start time of the process (psutil create_time)."""


class StartError(RuntimeError):
    pass


def read_pid_file(path: Path) -> Handle | None:
    try:
        data = json.loads(path.read_text())
        return Handle(int(data["pid"]), float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ProcessRuntime:
    def __init__(self, account: Account) -> None:
        self.account = account
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(
        self, command: str, cwd: Path, env: dict[str, str], log_file: Path, pid_file: Path
    ) -> Handle:
        """Start the process and record it in `pid_file` before anything else can happen:
        a daemon killed right after this still leaves a way to find the process."""
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            if self.account.switch:
                os.fchown(fd, self.account.uid, self.account.gid)
            # The Procfile line is the app's own command from its own repository; like
            # every Procfile runner we give it to a shell, as one argument. The whole
            # process group is signalled on stop, so the shell staying parent is harmless.
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                start_new_session=True,
                close_fds=True,
                **self.account.popen_kwargs(),  # type: ignore[call-overload]
            )
        except OSError as exc:
            raise StartError(f"cannot start the web process: {exc.strerror}") from None
        finally:
            os.close(fd)
        self._children[process.pid] = process
        try:
            started_at = psutil.Process(process.pid).create_time()
        except psutil.NoSuchProcess:
            started_at = time.time()
        handle = Handle(process.pid, started_at)
        atomic.write(pid_file, json.dumps({"pid": handle.pid, "started_at": started_at}))
        return handle

    def alive(self, handle: Handle) -> bool:
        child = self._children.get(handle.pid)
        if child is not None:
            return child.poll() is None
        try:
            proc = psutil.Process(handle.pid)
            return (
                abs(proc.create_time() - handle.started_at) < 0.5
                and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.NoSuchProcess:
            return False

    def exit_status(self, handle: Handle) -> int | None:
        child = self._children.get(handle.pid)
        return child.returncode if child is not None else None

    async def stop(self, handle: Handle, timeout: float) -> None:
        """SIGTERM the group, wait up to `timeout`, then SIGKILL the group."""
        if not self.alive(handle):
            self._reap(handle)
            return
        self._signal_group(handle.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive(handle):
                break
            await asyncio.sleep(0.05)
        self._signal_group(handle.pid, signal.SIGKILL)
        while self.alive(handle):
            await asyncio.sleep(0.02)
        self._reap(handle)

    def _signal_group(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def _reap(self, handle: Handle) -> None:
        child = self._children.pop(handle.pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1)

    def reap_exited(self) -> None:
        """Collect children that exited, so none lingers as a zombie."""
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                self._children.pop(pid, None)
