"""A local directory as a source, read with the rights of the Unix user who chose it.

`tar -c` runs as that user, so nobody deploys a directory they could not read themselves,
and it writes a reproducible stream (names sorted, times, owners and groups fixed), whose
sha256 is then the directory's content fingerprint, its "commit": the same files, the same
build. Work directories that are never part of an app's source are left out.
"""

from __future__ import annotations

from deployd.domain.sources import SourceError
from deployd.unix.accounts import Account
from deployd.unix.children import BASE_PATH, ChildError, run

IGNORED = (".git", "__pycache__", ".venv", "node_modules", ".deployd")
TAR_OK = (0, 1)
"""GNU tar's 1 means a file changed while it was read: the stream is still whole."""


def env() -> dict[str, str]:
    return {"PATH": BASE_PATH, "LC_ALL": "C"}


def tar_argv(path: str) -> list[str]:
    """A reproducible tar stream of `path` on standard output."""
    excludes = [f"--exclude={name}" for name in IGNORED]
    return [
        "tar",
        "--create",
        "--file=-",
        "--format=gnu",
        "--sort=name",
        "--mtime=@0",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        *excludes,
        f"--directory={path}",
        ".",
    ]


async def check_readable(path: str, account: Account) -> None:
    """SourceError unless `account` can list `path` (the same words whether it is missing
    or forbidden: the answer must not tell a deployer what exists where they cannot look)."""
    try:
        done = await run(["test", "-d", path, "-a", "-r", path, "-a", "-x", path], account)
    except ChildError as exc:
        raise SourceError(str(exc)) from None
    if done.code != 0:
        raise SourceError(
            f"{account.name} cannot read the directory {path} (it does not exist, or they "
            "may not read it)"
        )
