"""The first process of every slot: starts the app and writes its output, masked, to the log.

    python -I -m deployd.runtime.launch --env-file F --log L [--user UID:GID] -- COMMAND...

It runs as the daemon's user in the slot's own session, reads the slot's env file (the
app's environment: nothing secret passes through a command line), starts COMMAND with
exactly that environment (dropping to the app's account when given one), and copies the
app's stdout and stderr into the log through a `StreamMasker`, so no value of the app's
config reaches the file deployd stores and streams. The app cannot write to its log
directly, and a full disk costs log lines, never the app.

It ignores SIGTERM, SIGINT and SIGHUP (a stop signals the whole process group: the app
shuts down, its last words are still logged) and exits when the app does, with the app's
exit status or by the app's signal, so the daemon sees the app's own end. Only the
standard library and two pure domain modules are imported: it costs a few MB per slot.
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

from deployd.domain.envfile import parse
from deployd.domain.masking import Masker, StreamMasker

CHUNK = 64 * 1024
QUIET_FLUSH_SECONDS = 0.25
"""A possible secret's beginning that is followed by this much silence is written out."""
DRAIN_SECONDS = 1.0
"""After the app exits, how long its leftover children may keep the output pipe open."""


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deployd.runtime.launch")
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--user", help="UID:GID to run the app as")
    parser.add_argument("command", nargs="+")
    return parser.parse_args(argv)


def _write(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # a full disk loses log lines, never the app
        os.write(fd, data)


def _copy(read_fd: int, log_fd: int, masker: Masker, child: subprocess.Popen[bytes]) -> None:
    stream = StreamMasker(masker)
    exited = os.pidfd_open(child.pid)
    deadline: float | None = None
    while deadline is None or time.monotonic() < deadline:
        timeout = QUIET_FLUSH_SECONDS if stream.pending else None
        if deadline is not None:
            timeout = min(timeout or DRAIN_SECONDS, max(0.0, deadline - time.monotonic()))
        watched = [read_fd] if deadline is not None else [read_fd, exited]
        ready, _, _ = select.select(watched, [], [], timeout)
        if exited in ready:
            deadline = time.monotonic() + DRAIN_SECONDS
        if read_fd in ready:
            data = os.read(read_fd, CHUNK)
            if not data:
                break
            _write(log_fd, stream.feed(data))
        elif not ready and stream.pending:
            _write(log_fd, stream.flush())
    _write(log_fd, stream.flush())
    os.close(exited)


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
    try:
        with open(args.env_file, encoding="utf-8", errors="surrogatepass") as fh:
            platform, config = parse(fh.read())
    except (OSError, ValueError) as exc:
        _write(log_fd, f"deployd: cannot read the env file {args.env_file}: {exc}\n".encode())
        os._exit(126)
    identity: dict[str, object] = {}
    if args.user:
        uid, gid = (int(part) for part in args.user.split(":"))
        identity = {"user": uid, "group": gid, "extra_groups": []}
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            args.command,
            env={**platform, **config},
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            close_fds=True,
            **identity,  # type: ignore[call-overload]
        )
    except OSError as exc:
        _write(log_fd, f"deployd: cannot start {args.command[0]}: {exc.strerror}\n".encode())
        os._exit(127)
    os.close(write_fd)
    _copy(read_fd, log_fd, Masker(config), child)
    _exit_like(child.wait())


if __name__ == "__main__":
    main(sys.argv[1:])
