"""One-off processes attached to the caller's terminal (`deployctl run`).

The client's own stdin, stdout and stderr are handed to the daemon over a one-time Unix
socket (SCM_RIGHTS), so the process reads and writes the user's terminal or pipes
directly: no copying through the daemon, binary-safe, and a program that asks `isatty()`
gets the true answer. The same socket then carries signals the other way (the user's
Ctrl-C arrives at the client, which forwards it) and its closing: a client that goes away
hangs the process up, as ssh does.

Only the Unix user who asked may connect (SO_PEERCRED), once, within a short time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import docker
import docker.errors

from deployd.domain.databases import docker_hosts

HANDOFF_SECONDS = 10.0
FORWARDED = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP})
"""Signals a client may forward to its one-off process."""


class HandoffError(Exception):
    pass


@dataclass
class Handoff:
    """A listening one-time socket for one client's descriptors."""

    path: Path
    listener: socket.socket
    uid: int | None
    """The only Unix user who may connect (None: anyone who can reach the path)."""

    @classmethod
    def open(cls, directory: Path, uid: int | None) -> Handoff:
        directory.mkdir(mode=0o711, parents=True, exist_ok=True)
        path = directory / f"run-{secrets.token_hex(16)}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(path))
        # reachable by the caller, whoever they are: SO_PEERCRED decides who is served
        os.chmod(path, 0o666)  # noqa: S103
        listener.listen(1)
        return cls(path, listener, uid)

    def accept(self) -> tuple[socket.socket, list[int]]:
        """The client's connection and its three descriptors (blocking: in a thread)."""
        try:
            self.listener.settimeout(HANDOFF_SECONDS)
            conn, _ = self.listener.accept()
        except TimeoutError:
            raise HandoffError("the client did not hand over its terminal in time") from None
        finally:
            self.close()
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
            if self.uid is not None and uid not in (self.uid, 0):
                raise HandoffError("another user connected to the hand-over socket")
            conn.settimeout(HANDOFF_SECONDS)
            _, fds, _, _ = socket.recv_fds(conn, 16, 3)
            if len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                raise HandoffError("the client handed over no terminal")
            conn.settimeout(None)
        except (OSError, HandoffError):
            conn.close()
            raise
        return conn, fds

    def close(self) -> None:
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def exit_code(returncode: int) -> int:
    """A shell's exit status: 128 + N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def run_attached(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    fds: list[int],
    control: socket.socket,
    popen_kwargs: dict[str, object],
    started: Callable[[int], None] = lambda pid: None,
) -> int:
    """Run `argv` on the client's descriptors until it exits, forwarding the signals the
    client sends; returns its exit status (blocking: in a thread)."""
    try:
        process = subprocess.Popen(  # type: ignore[call-overload]
            argv,
            cwd=cwd,
            env=env,
            stdin=fds[0],
            stdout=fds[1],
            stderr=fds[2],
            start_new_session=True,
            close_fds=True,
            **popen_kwargs,
        )
    finally:
        for fd in fds:
            os.close(fd)
    started(process.pid)
    with control:
        for signum in _signals(control, process):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
    status = exit_code(process.wait())
    with contextlib.suppress(ProcessLookupError):  # the run ends with its command, as a dyno
        os.killpg(process.pid, signal.SIGKILL)
    return status


class _Waitable(Protocol):
    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def _signals(control: socket.socket, process: _Waitable) -> Iterator[int]:
    """Each signal the client asks for, until the process exits; the client hanging up
    is a SIGHUP, then a SIGKILL if the process lingers."""
    hung_up = False
    while process.poll() is None:
        if hung_up:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(1)
            continue
        ready, _, _ = select.select([control], [], [], 0.1)
        if not ready:
            continue
        try:
            data = control.recv(64)
        except OSError:
            data = b""
        if not data:
            hung_up = True
            yield signal.SIGHUP
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            if process.poll() is None:
                yield signal.SIGKILL
            continue
        for byte in data:
            if byte in FORWARDED:
                yield byte


def run_in_container(
    client: docker.DockerClient,
    image: str,
    argv: list[str],
    *,
    env: dict[str, str],
    network: str,
    fds: list[int],
    control: socket.socket,
) -> int:
    """The same for a docker release: a fresh container of its image, its stdin and output
    relayed between the Engine's attach stream and the client's descriptors (a container's
    processes cannot be handed descriptors). Returns its exit status (blocking)."""
    api = client.api
    created = api.create_container(
        image,
        command=argv,
        entrypoint=[],
        environment=env,
        stdin_open=True,
        tty=False,
        labels={"deployd.oneoff": "1"},
        host_config=api.create_host_config(
            network_mode="host" if network == "host" else "bridge",
            init=True,
            extra_hosts=docker_hosts(network),
        ),
    )
    container = created["Id"]
    try:
        attach = api.attach_socket(
            container, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        stream: socket.socket = getattr(attach, "_sock", attach)
        api.start(container)
        pumps = [
            threading.Thread(target=_to_container, args=(fds[0], stream), daemon=True),
            threading.Thread(target=_from_container, args=(stream, fds[1], fds[2]), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        with control:
            waiter = _Waiter(api, container)
            for signum in _signals(control, waiter):
                with contextlib.suppress(docker.errors.APIError):
                    api.kill(container, signal=int(signum))
        pumps[1].join(5)
        return exit_code(waiter.returncode or 0)
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(container, force=True)


class _Waiter:
    """Enough of a Popen for `_signals`: `poll()`, `wait(timeout)`."""

    def __init__(self, api: Any, container: str) -> None:
        self.returncode: int | None = None
        self._done = threading.Event()

        def wait() -> None:
            try:
                self.returncode = int(api.wait(container).get("StatusCode", 1))
            except Exception:
                self.returncode = 1
            self._done.set()

        threading.Thread(target=wait, daemon=True).start()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("container", timeout or 0)
        assert self.returncode is not None
        return self.returncode


def _to_container(source: int, stream: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := os.read(source, 65536):
            stream.sendall(data)
        stream.shutdown(socket.SHUT_WR)  # the client's EOF is the container's


def _from_container(stream: socket.socket, stdout: int, stderr: int) -> None:
    """The Engine's multiplexed stream: an 8-byte header (stream, size), then the data."""
    with contextlib.suppress(OSError):
        while header := _read_exactly(stream, 8):
            kind, size = struct.unpack(">BxxxL", header)
            data = _read_exactly(stream, size)
            _write_all(stderr if kind == 2 else stdout, data)


def _read_exactly(stream: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.recv(left)
        if not chunk:
            return b""
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
