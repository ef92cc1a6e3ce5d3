"""Who builds and runs apps: an unprivileged account when the daemon is root.

Build commands and app processes run as `DEPLOYD_APP_USER` (default `nobody`) when the
daemon runs as root, so a build cannot write outside the directories given to it; an
unprivileged daemon (dev) runs them as itself.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Account:
    uid: int
    gid: int
    name: str
    switch: bool
    """True when processes must drop to this account (the daemon is root)."""

    def popen_kwargs(self) -> dict[str, object]:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def give(self, path: Path) -> None:
        """Hand a directory tree to the account (no-op when it is us)."""
        if not self.switch:
            return
        for directory, dirs, files in os.walk(path):
            os.chown(directory, self.uid, self.gid, follow_symlinks=False)
            for name in dirs + files:
                os.chown(os.path.join(directory, name), self.uid, self.gid, follow_symlinks=False)


def app_account(name: str) -> Account:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_uid, entry.pw_gid, entry.pw_name, switch=False)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"DEPLOYD_APP_USER {name!r} does not exist on this host") from None
    if entry.pw_uid == 0:
        raise RuntimeError("DEPLOYD_APP_USER must not be root")
    return Account(entry.pw_uid, entry.pw_gid, entry.pw_name, switch=True)
