"""The Runtime seam: what every runtime (process, docker, systemd) offers the engine.

Every slot is led by a launcher process (`launch.py`) whatever the runtime: it starts the
app (or follows its container), masks its output into the slot's log and exits as the app
does. So "is the slot running?" and "how did it end?" are the same question for all three
(`ProcessRuntime.alive` / `exit_status`, by pid and start time); only how a slot is started
and stopped differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from deployd import atomic


@dataclass(frozen=True, slots=True)
class Handle:
    pid: int
    started_at: float
    """The kernel's start time of the process (psutil create_time)."""


class StartError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """Everything a runtime needs to start one release in one slot."""

    app: str
    slot: str
    release: int
    port: int | None
    """The process's port (a web process); None for the others."""
    command: str | None
    """The Procfile's line; None: the image's own command (docker)."""
    workdir: Path
    """The release's artifact directory."""
    env_file: Path
    log_file: Path
    pid_file: Path
    process: str = "web.1"
    """Which process of the slot this is: type.index."""
    user: tuple[int, int] | None = None
    """(uid, gid) of the app's account, when the app must drop to it (the daemon is
    root); the launcher itself stays the daemon's, so the app cannot write its own log."""
    app_mount: bool = False
    """Show the release at /app (a private mount namespace; BindPaths= on systemd)."""
    stop_timeout: float = 10.0
    quiet_path: str | None = None
    """The health check's path: the app's own access-log lines of it are left out."""
    image: str | None = None
    network: str = "bridge"
    memory_bytes: int | None = None
    cpus: float | None = None


class Runtime(Protocol):
    name: str

    def start(self, spec: LaunchSpec) -> Handle:
        """Start the slot; the handle is its launcher (already in `spec.pid_file`)."""
        ...

    async def stop(
        self, app: str, slot: str, process: str, handles: Iterable[Handle], timeout: float
    ) -> None:
        """Stop one process of the slot (whatever `handles` still run of it), gracefully
        then by force."""
        ...

    def ours(self, app: str, slot: str, process: str, handle: Handle) -> Callable[[int], bool]:
        """Which pids belong to the process as it runs now (its listener must be one)."""
        ...


def write_pid_file(path: Path, handle: Handle) -> None:
    atomic.write(path, json.dumps({"pid": handle.pid, "started_at": handle.started_at}))


def read_pid_file(path: Path) -> Handle | None:
    try:
        data = json.loads(path.read_text())
        return Handle(int(data["pid"]), float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
