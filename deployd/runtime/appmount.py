"""Run a command with its release at `/app`, where Heroku and Dokku put it.

    python -I -m deployd.runtime.appmount --dir RELEASE [--user UID:GID] -- COMMAND...

Run as root: it enters a private mount namespace of its own (nothing it mounts is seen
outside, and it all goes when the command's last process ends), binds the release
directory at `/app`, drops to the app's account, changes to `/app` and executes COMMAND
with the environment it was given. Every process, release command and one-off of a
native release starts through it when the daemon is root; `--probe` tells the daemon
whether this host allows it (a container without CAP_SYS_ADMIN does not).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
from pathlib import Path

APP = "/app"
MODULE = "deployd.runtime.appmount"
CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


def _libc_call(name: str, *args: object) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def enter(release: str) -> None:
    """A private mount namespace with `release` bound at /app."""
    _libc_call("unshare", CLONE_NEWNS)
    _libc_call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    _libc_call("mount", os.fsencode(release), APP.encode(), None, MS_BIND | MS_REC, None)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="deployd.runtime.appmount")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user", help="UID:GID to run the command as")
    parser.add_argument("--probe", action="store_true", help="only check that it can be done")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args(argv)
    try:
        enter(args.dir)
        if args.user:
            uid, gid = (int(part) for part in args.user.split(":"))
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        os.chdir(APP)
    except (OSError, ValueError) as exc:
        print(f"deployd: cannot put the release at {APP}: {exc}", file=sys.stderr, flush=True)
        os._exit(126)
    if args.probe:
        os._exit(0)
    if not args.command:
        print("deployd: no command to run", file=sys.stderr, flush=True)
        os._exit(2)
    try:
        os.execvp(args.command[0], args.command)  # noqa: S606 (the app's own command line)
    except OSError as exc:
        print(f"deployd: cannot run {args.command[0]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)


def wrap(command: list[str], release: Path, user: tuple[int, int] | None) -> list[str]:
    """`command` as it runs through this module: at /app, as `user`."""
    who = ["--user", "{}:{}".format(*user)] if user else []
    return [sys.executable, "-I", "-m", MODULE, "--dir", str(release), *who, "--", *command]


def prepare_host() -> str | None:
    """Make /app a mount point and check that a private mount namespace can be had here;
    None when it can, else why not (the daemon then runs releases where they lie)."""
    if os.geteuid() != 0:
        return "the daemon is not root"
    app = Path(APP)
    try:
        app.mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        return f"cannot make {APP}: {exc.strerror}"
    if app.is_symlink() or not app.is_dir():
        return f"{APP} is not a plain directory"
    probe = subprocess.run(
        [sys.executable, "-I", "-m", MODULE, "--dir", APP, "--probe"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return probe.stderr.strip() or f"the probe exited with status {probe.returncode}"
    return None


if __name__ == "__main__":
    main(sys.argv[1:])
