"""Each app's Unix account and the directories it owns, and the accounts callers read as.

A root daemon gives every app an account of its own the first time the app needs it (its
creation, or the first deploy of an app made before accounts existed) and removes it with
the app. The app's directory is the daemon's, readable by the app's group only:

    data/apps/<app>/          0710 root:<app>   env files (0600 root), pid files
      builds/                 0710 root:<app>   markers (0600 root)
        <key>/                      <app>       a build, made and run by the app's account
      repo.git/                     <app>       a network source's mirror
      cache/                  0700  <app>       package managers' downloads, between builds
      tmp/                    0700 root         sources on their way to a build
    logs/apps/<app>/          0700 root         written by the slots' launchers (root)

so an app can reach its own builds and nothing of another app's. An unprivileged daemon
runs everything as itself: apps are not isolated from each other there (`deployd dev` as
a normal user says so at start).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

from deployd.config import Paths
from deployd.domain import accounts as naming
from deployd.unix import accounts
from deployd.unix.accounts import Account


class AppAccounts:
    def __init__(self, paths: Paths, prefix: str) -> None:
        self.paths = paths
        self.prefix = prefix
        self.isolated = accounts.is_root()
        """Apps run as accounts of their own (the daemon is root)."""
        self._ready: dict[str, Account] = {}
        self._lock = asyncio.Lock()

    def name(self, app: str) -> str:
        return naming.app_account(app, self.prefix)

    async def prepare(self, app: str) -> Account:
        """The app's account, created if missing, and its directories, made as above."""
        ready = self._ready.get(app)
        if ready is not None:
            return ready
        async with self._lock:  # useradd takes the password file's lock: one at a time
            account = await asyncio.to_thread(self._prepare, app)
        self._ready[app] = account
        return account

    def _prepare(self, app: str) -> Account:
        if self.isolated:
            account, _ = accounts.ensure(self.name(app), f"deployd app {app}")
        else:
            account = accounts.myself()
        group = account.gid if self.isolated else -1
        app_dir = self.paths.app_dir(app)
        own_dir(app_dir.parent, 0o711)
        own_dir(app_dir, 0o710, group)
        own_dir(app_dir / "builds", 0o710, group)
        own_dir(app_dir / "tmp", 0o700)
        _app_dir(app_dir / "cache", account)
        own_dir(self.paths.app_logs(app).parent, 0o700)
        own_dir(self.paths.app_logs(app), 0o700)
        return account

    async def remove(self, app: str) -> None:
        """After the app's processes were stopped and its files removed."""
        self._ready.pop(app, None)
        if self.isolated:
            async with self._lock:
                await asyncio.to_thread(accounts.remove, self.name(app))

    def caller(self, uid: int | None) -> Account:
        """Whom a caller's local sources are read as: the caller's own account."""
        if uid is None:
            raise accounts.AccountError("the caller's Unix user is unknown")
        return accounts.of_uid(uid)

    def nginx(self) -> Account | None:
        """The account of deployd's private nginx's workers (dev as root); None: the
        daemon's own (not root) or the host's nginx (production)."""
        if not self.isolated or not self.paths.rerooted:
            return None
        account, _ = accounts.ensure(naming.nginx_account(self.prefix), "deployd's nginx")
        return account

    async def psql(self) -> Account:
        """The account `db psql` runs as: its own (made on first use), or the daemon's
        when it is not root."""
        if not self.isolated:
            return accounts.myself()
        account, _ = await asyncio.to_thread(
            accounts.ensure, naming.psql_account(self.prefix), "deployd's psql sessions"
        )
        return account

    async def fetcher(self) -> Account:
        """The account private repositories are fetched as, with a token (made on first
        use); the daemon's own when it is not root."""
        if not self.isolated:
            return accounts.myself()
        account, _ = await asyncio.to_thread(
            accounts.ensure, naming.fetch_account(self.prefix), "deployd's token fetches"
        )
        return account


def _app_dir(path: Path, account: Account) -> None:
    """A directory of the app's own, made (by the daemon, in its directory) if missing;
    one that is not the account's (an app made again, with a new uid) is made anew."""
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == account.uid:
            return
        shutil.rmtree(path, ignore_errors=True)
        path.unlink(missing_ok=True)
    except FileNotFoundError:
        pass
    path.mkdir(mode=0o700)
    if account.owner is not None:
        os.chown(path, *account.owner, follow_symlinks=False)


def own_dir(path: Path, mode: int, group: int = -1) -> None:
    """A directory of the daemon's with exactly `mode` (and `group`), made if missing.
    Never follows a symlink: every parent is the daemon's."""
    path.mkdir(mode=mode, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, os.geteuid(), group if group != -1 else os.getegid())
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
