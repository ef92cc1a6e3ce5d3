"""The first process of every slot: starts the app and writes its output, masked, to the log.

    python -I -m deployd.runtime.launch --env-file F --log L [--user UID:GID] -- COMMAND...
    python -I -m deployd.runtime.launch --env-file F --log L --container ID [--docker URL]

It runs as the daemon's user in the slot's own session, reads the slot's env file (the
app's environment: nothing secret passes through a command line), starts COMMAND with
exactly that environment (dropping to the app's account when given one), and copies the
app's stdout and stderr into the log through a `StreamMasker`, so no value of the app's
config reaches the file deployd stores and streams. The app cannot write to its log
directly, and a full disk costs log lines, never the app.

It ignores SIGTERM, SIGINT and SIGHUP (a stop signals the whole process group: the app
shuts down, its last words are still logged) and exits when the app does, with the app's
exit status or by the app's signal, so the daemon sees the app's own end. It imports the
standard library, two pure domain modules and RE2 (the docker SDK only to follow a
container): ~15 MB per slot, ~30 MB with docker.

With `--container` (the docker runtime) the app is a container the daemon has started: the
launcher follows its output through the Engine API instead, and exits with its status.
`--tee` (the systemd runtime) also copies the masked output to standard output, which
systemd sends to the journal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from deployd.domain.envfile import parse
from deployd.domain.logline import format_line, probe_pattern
from deployd.domain.masking import Masker, StreamMasker

CHUNK = 64 * 1024
QUIET_FLUSH_SECONDS = 0.25
"""A possible secret's beginning that is followed by this much silence is written out."""
LINE_LIMIT = 16 * 1024
"""A longer line is cut into lines of this size."""
DRAIN_SECONDS = 1.0
"""After the app exits, how long its leftover children may keep the output pipe open."""


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deployd.runtime.launch")
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--user", help="UID:GID to run the app as")
    parser.add_argument("--container", help="follow this container instead of a command")
    parser.add_argument("--docker", help="the Docker Engine's URL")
    parser.add_argument("--tee", action="store_true", help="also write the output to stdout")
    parser.add_argument("--name", help="the process (web.1): lines are stamped with it")
    parser.add_argument("--release", type=int, default=0, help="the release it runs")
    parser.add_argument("--quiet-path", help="leave out access-log lines of GET PATH")
    parser.add_argument("command", nargs="*")
    return parser.parse_args(argv)


class Output:
    """Where masked output goes: the log (and stdout with --tee), as whole lines stamped
    with their time, process and release (one write each: the app's processes share one
    log). A full disk loses log lines, never the app."""

    def __init__(
        self,
        log_fd: int,
        tee: bool,
        name: str | None = None,
        release: int = 0,
        quiet_path: str | None = None,
    ) -> None:
        self.fds = [log_fd, 1] if tee else [log_fd]
        self.name = name
        self.release = release
        self.pending = b""
        self.quiet = probe_pattern(quiet_path) if quiet_path else None

    def __call__(self, data: bytes) -> None:
        if not data:
            return
        if self.name is None:
            self._write(data)
            return
        *lines, self.pending = (self.pending + data).split(b"\n")
        while len(self.pending) > LINE_LIMIT:
            lines.append(self.pending[:LINE_LIMIT])
            self.pending = self.pending[LINE_LIMIT:]
        if lines:
            self._write(b"".join(self._framed(line) for line in lines))

    def flush(self) -> None:
        """A partial line, after a quiet moment or at the end, is written as a line."""
        if self.pending:
            pending, self.pending = self.pending, b""
            self._write(self._framed(pending))

    def _framed(self, line: bytes) -> bytes:
        text = line.decode(errors="replace").rstrip("\r")
        if self.quiet is not None and self.quiet.search(text):
            return b""  # the app's own line of a health probe
        name = self.name or "app"
        return (format_line(datetime.now(UTC), name, self.release, text) + "\n").encode()

    def _write(self, data: bytes) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy(read_fd: int, write: Output, masker: Masker, exited: int | None) -> None:
    """Copy the pipe to the output, masked, until it ends; once `exited` (a pidfd) is
    readable, leftovers holding the pipe open get DRAIN_SECONDS."""
    stream = StreamMasker(masker)
    deadline: float | None = None
    while deadline is None or time.monotonic() < deadline:
        timeout = QUIET_FLUSH_SECONDS if stream.pending or write.pending else None
        if deadline is not None:
            timeout = min(timeout or DRAIN_SECONDS, max(0.0, deadline - time.monotonic()))
        watched = [read_fd] if deadline is not None or exited is None else [read_fd, exited]
        ready, _, _ = select.select(watched, [], [], timeout)
        if exited in ready:
            deadline = time.monotonic() + DRAIN_SECONDS
        if read_fd in ready:
            data = os.read(read_fd, CHUNK)
            if not data:
                break
            write(stream.feed(data))
        elif not ready:
            write(stream.flush())
            write.flush()
    write(stream.flush())
    write.flush()


def _run(args: argparse.Namespace, write: Output, masker: Masker, env: dict[str, str]) -> int:
    """Start the command with exactly `env` and copy its output; returns its end."""
    identity: dict[str, object] = {}
    if args.user:
        uid, gid = (int(part) for part in args.user.split(":"))
        identity = {"user": uid, "group": gid, "extra_groups": []}
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            args.command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            close_fds=True,
            **identity,  # type: ignore[call-overload]
        )
    except OSError as exc:
        write(f"deployd: cannot start {args.command[0]}: {exc.strerror}\n".encode())
        return 127
    os.close(write_fd)
    exited = os.pidfd_open(child.pid)
    _copy(read_fd, write, masker, exited)
    os.close(exited)
    code: int = child.wait()
    return code


def _follow(args: argparse.Namespace, write: Output, masker: Masker) -> int:
    """Copy a container's output until it stops; returns its end as a process's would be
    (the Engine reports a container killed by signal N as status 128 + N)."""
    import threading

    import docker
    import docker.errors

    client = docker.DockerClient(base_url=args.docker or "unix:///var/run/docker.sock")
    try:
        container = client.containers.get(args.container)
    except docker.errors.DockerException as exc:
        write(f"deployd: the container is gone: {exc}\n".encode())
        return 1
    read_fd, write_fd = os.pipe()

    def pump() -> None:
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                _write_all(write_fd, chunk)
        except Exception as exc:  # the Engine went away: say so in the log, then end
            _write_all(write_fd, f"deployd: lost the container's output: {exc}\n".encode())
        finally:
            os.close(write_fd)

    threading.Thread(target=pump, daemon=True).start()
    _copy(read_fd, write, masker, None)
    try:
        code = int(container.wait().get("StatusCode", 1))
    except docker.errors.DockerException as exc:  # removed before we could ask
        write(f"deployd: the container is gone: {exc}\n".encode())
        return 1
    return -(code - 128) if 128 < code < 160 else code


def _exit_like(code: int) -> None:
    """End this process the way the app ended: its status, or its signal."""
    if code >= 0:
        os._exit(code)
    sig = -code
    with contextlib.suppress(OSError, ValueError):
        signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)  # a handler, not SIG_IGN: the app must not inherit it
    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    write = Output(log_fd, args.tee, args.name, args.release, args.quiet_path)
    try:
        with open(args.env_file, encoding="utf-8", errors="surrogatepass") as fh:
            platform, config = parse(fh.read())
    except (OSError, ValueError) as exc:
        write(f"deployd: cannot read the env file {args.env_file}: {exc}\n".encode())
        write.flush()
        os._exit(126)
    masker = Masker(config)
    if args.container:
        _exit_like(_follow(args, write, masker))
    elif args.command:
        _exit_like(_run(args, write, masker, {**platform, **config}))
    write(b"deployd: nothing to launch (no command, no container)\n")
    write.flush()
    os._exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
