"""Unix accounts: who a child process runs as, and the per-app accounts deployd manages.

A root daemon gives every app an account of its own (created with the app, removed with
it) and reads local sources as the Unix user who asked for them. An unprivileged daemon
(`deployd dev` as a normal user) cannot switch accounts: everything runs as itself, and it
says so at start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import logging
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)

NOLOGIN = next(
    (shell for shell in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(shell)),
    "/bin/false",
)


class AccountError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    uid: int
    gid: int
    name: str
    groups: tuple[int, ...] = ()
    """Supplementary groups (a caller's, so a source is read with all of their rights)."""
    switch: bool = False
    """True when a child must drop to this account (the daemon is root and it is not)."""
    home: str = "/nonexistent"

    def popen_kwargs(self) -> dict[str, object]:
        """Keywords for `subprocess.Popen` / `asyncio.create_subprocess_exec`."""
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def as_root(self) -> Account:
        """The same account for a child that must start as root (and drop to it itself)."""
        return dataclasses.replace(self, switch=False)

    @property
    def owner(self) -> tuple[int, int] | None:
        """(uid, gid) to hand a fresh file or directory to; None: it is ours already."""
        return (self.uid, self.gid) if self.switch else None


def is_root() -> bool:
    return os.geteuid() == 0


def myself() -> Account:
    entry = pwd.getpwuid(os.geteuid())
    return Account(entry.pw_uid, entry.pw_gid, entry.pw_name, home=entry.pw_dir)


def lookup(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_uid, entry.pw_gid, entry.pw_name, switch=is_root())


def of_uid(uid: int) -> Account:
    """The account of a Unix user who called us, with its supplementary groups: what it
    may read, a child running as this account may read, and nothing more."""
    if uid == os.geteuid():
        return myself()
    if not is_root():
        raise AccountError(
            f"this deployd runs as {myself().name}, not root: it cannot read files as uid {uid}"
        )
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        raise AccountError(f"uid {uid} has no account on this host") from None
    groups = tuple(g for g in os.getgrouplist(entry.pw_name, entry.pw_gid) if g != entry.pw_gid)
    return Account(
        entry.pw_uid, entry.pw_gid, entry.pw_name, groups, switch=uid != 0, home=entry.pw_dir
    )


def ensure(name: str, comment: str) -> tuple[Account, bool]:
    """The system account `name` with a group of its own, created if missing (root only);
    returns it and whether it was created now."""
    found = lookup(name)
    if found is not None:
        if found.uid == 0 or found.gid == 0:
            raise AccountError(f"the account {name} is root's: refusing to run an app as it")
        return found, False
    command = [
        "useradd",
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        NOLOGIN,
        "--comment",
        comment,
        name,
    ]
    _admin(command, f"cannot create the account {name}")
    created = lookup(name)
    if created is None:
        raise AccountError(f"useradd made no account {name}")
    return created, True


def remove(name: str) -> bool:
    """Stop every process of the account, then remove it and its group. False: none."""
    found = lookup(name)
    if found is None:
        return False
    kill_all(found.uid)
    try:
        _admin(["userdel", name], f"cannot remove the account {name}")
    except AccountError:  # a zombie its parent never reaps still counts as the account's
        _admin(["userdel", "--force", name], f"cannot remove the account {name}")
    with contextlib.suppress(KeyError):
        grp.getgrnam(name)
        _admin(["groupdel", name], f"cannot remove the group {name}")
    return True


def kill_all(uid: int, timeout: float = 10.0, reaped_within: float = 0.2) -> int:
    """SIGKILL every process running as `uid` (an app's leftovers once it is deleted) until
    none is alive; then give their parents `reaped_within` seconds to reap the dead."""
    if uid == 0:
        raise AccountError("refusing to kill root's processes")
    killed = 0
    deadline = time.monotonic() + timeout
    alive_until: float | None = None
    while True:  # a process may fork while we look: look again
        found = [
            p for p in psutil.process_iter(["uids", "status"]) if uid in (p.info["uids"] or ())
        ]
        living = [p for p in found if p.info["status"] != psutil.STATUS_ZOMBIE]
        now = time.monotonic()
        if not living:
            alive_until = alive_until or now
            if not found or now - alive_until > reaped_within:
                return killed
        elif now > deadline:
            raise AccountError(f"{len(living)} processes of uid {uid} would not go away")
        for proc in living:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.02)


def _admin(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AccountError(f"{what}: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise AccountError(f"{what}: {lines[-1] if lines else f'exit status {done.returncode}'}")
