"""Where a client finds the daemon's socket when it is not told: the one rule deployctl
follows and the daemon's start-up hint predicts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SYSTEM_SOCKET = Path("/run/deployd/deployd.sock")
DEV_SOCKET = Path(".deployd") / "deployd.sock"
"""`deployd dev`'s, relative to the directory it was started in."""


def default_socket(environ: Mapping[str, str], cwd: Path = Path()) -> Path:
    """$DEPLOYD_SOCKET, else the first that exists of the system daemon's socket and
    ./.deployd/deployd.sock, else the system daemon's."""
    from_env = environ.get("DEPLOYD_SOCKET")
    if from_env:
        return cwd / from_env
    for candidate in (SYSTEM_SOCKET, cwd / DEV_SOCKET):
        if candidate.exists():
            return candidate
    return SYSTEM_SOCKET
