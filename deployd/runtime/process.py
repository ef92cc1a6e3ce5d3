"""The `process` runtime: each slot is a process group the daemon starts and stops.

The group is led by the slot's launcher (`launch.py`), which starts the app with the slot's
env file and writes its output, masked, to the slot's log: no pipe through the daemon, so a
daemon restart cannot break it. The group has its own session (so it outlives the daemon,
and a stop can signal all of it) and is identified by the launcher's pid plus start time,
so a recycled pid is never mistaken for it. The launcher exits as the app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import psutil

from . import appmount
from .base import Handle, LaunchSpec, StartError, write_pid_file
from .listeners import family

LAUNCHER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
"""The launcher's own environment: nothing of the daemon's (its database URL, say)."""


class ProcessRuntime:
    """Runs slots as process groups; also the keeper of every slot's launcher, whatever
    its runtime (the docker and systemd runtimes start launchers through it)."""

    name = "process"

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, spec: LaunchSpec) -> Handle:
        """The launcher starts the Procfile's web line; like every Procfile runner we give
        it to a shell, as one argument (it is the app's own command from its own code)."""
        if spec.command is None:
            raise StartError(f"no command to run for {spec.process} (see the Procfile)")
        command = ["/bin/sh", "-c", spec.command]
        if spec.app_mount:  # the launcher stays the daemon's; the helper drops privileges
            return self.launch(spec, ["--", *appmount.wrap(command, spec.workdir, spec.user)])
        args = ["--user", "{}:{}".format(*spec.user)] if spec.user else []
        return self.launch(spec, [*args, "--", *command])

    def launch(self, spec: LaunchSpec, args: list[str]) -> Handle:
        """Start the slot's launcher with `args` and record it in the pid file before
        anything else can happen: a daemon killed right after this still finds it."""
        log_file, pid_file = spec.log_file, spec.pid_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-I", "-m", "deployd.runtime.launch"]
        argv += ["--env-file", str(spec.env_file), "--log", str(log_file)]
        argv += ["--name", spec.process, "--release", str(spec.release)]
        argv += [*(["--quiet-path", spec.quiet_path] if spec.quiet_path else []), *args]
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            process = subprocess.Popen(
                argv,
                cwd=spec.workdir,
                env=LAUNCHER_ENV,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise StartError(f"cannot start {spec.process}: {exc.strerror}") from None
        finally:
            os.close(fd)
        self._children[process.pid] = process
        try:
            started_at = psutil.Process(process.pid).create_time()
        except psutil.NoSuchProcess:
            started_at = time.time()
        handle = Handle(process.pid, started_at)
        write_pid_file(pid_file, handle)
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

    def ours(self, app: str, slot: str, process: str, handle: Handle) -> Callable[[int], bool]:
        """The launcher and everything it started, as they are now."""
        members = family(handle.pid) if self.alive(handle) else set()
        return members.__contains__

    async def stop(
        self, app: str, slot: str, process: str, handles: Iterable[Handle], timeout: float
    ) -> None:
        for handle in handles:
            await self.stop_group(handle, timeout)

    async def stop_group(self, handle: Handle, timeout: float) -> None:
        """SIGTERM the group, wait up to `timeout`, then SIGKILL the group."""
        if not self.alive(handle):
            self._kill_leftovers(handle)
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

    def _kill_leftovers(self, handle: Handle) -> None:
        """An ended launcher may leave processes in its group (a shell's children that
        outlived it): they go too, as a dyno's do. Unless its pid is another process's
        now (then so may the group id be): a pid stays taken while its group has members,
        and an unreaped launcher (a zombie) is still ours."""
        try:
            leader = psutil.Process(handle.pid)
            if abs(leader.create_time() - handle.started_at) >= 0.5:
                return  # the pid is someone else's
        except psutil.NoSuchProcess:
            pass
        self._signal_group(handle.pid, signal.SIGKILL)

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
