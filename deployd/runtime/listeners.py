"""Who listens on a slot's port: the release deployd started, or a stranger?

A health check only proves that *something* answers on the port. Before a slot may pass it,
every listening socket on the port must belong to the processes deployd started for the
slot (the launcher and its descendants; for a container, its cgroup and the Engine's proxy
to it): otherwise nginx would be switched to a stranger (another program, a second
`deployd dev`, an app's leftover). And before a slot starts, its port must be free, so the
failure names the holder instead of a release that "crashed".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from deployd.domain.text import escape


@dataclass(frozen=True, slots=True)
class Listener:
    pid: int | None
    """None: a socket of another user's process, which an unprivileged daemon cannot see
    (nor root without CAP_SYS_PTRACE: /proc/PID/fd is then closed to it)."""

    def describe(self) -> str:
        if self.pid is None:
            if os.geteuid() == 0:  # root, yet the kernel would not say whose socket it is
                return (
                    "a process deployd cannot identify (root without CAP_SYS_PTRACE, as in a "
                    "container by default, cannot see other accounts' sockets)"
                )
            return "a process of another user"
        try:
            proc = psutil.Process(self.pid)
            command = " ".join(proc.cmdline()) or proc.name()
        except psutil.Error:
            return f"pid {self.pid}"
        return f"pid {self.pid} ({escape(command, 80)})"


def listeners(port: int) -> list[Listener]:
    """Every process with a TCP socket listening on `port` (any address)."""
    found = []
    with contextlib.suppress(psutil.AccessDenied):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                found.append(Listener(conn.pid))
    return found


def family(pid: int) -> set[int]:
    """`pid` and every process below it."""
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


def strangers(port: int, ours: Callable[[int], bool]) -> list[Listener]:
    """The listeners on `port` that are not ours (all of them must be, to pass)."""
    return [found for found in listeners(port) if found.pid is None or not ours(found.pid)]


def describe(found: Iterable[Listener]) -> str:
    return ", ".join(listener.describe() for listener in found)
