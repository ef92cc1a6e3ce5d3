"""A token for one git fetch, without it on a command line, in `.git/config`, a log or an
error.

`askpass(...)` is a context manager around one `git clone` or `git fetch` of a private
repository over HTTPS: it puts, in a fresh directory that only the fetching account can
enter, a token file (mode 0400) and a small askpass program (mode 0500), both the
account's and created with O_EXCL|O_NOFOLLOW, and gives back the environment that makes
git use them. The askpass program answers only git's prompts for the one host the token
belongs to (a redirect to another host gets no token), writes nothing to stderr, and is
a shell builtin-only script, so the token is in no process's argv or environment either.
Credential helpers are switched off for the fetch, so no helper stores the token. Both
files and their directory are gone when the block ends, however it ends.

The directory (`/run/deployd/askpass`, say) is deployd's own: it must belong to the
daemon's user and be writable by nobody else. A fetch's directory inside it belongs to
root with the account's group and mode 0710: the account can reach its two files by name
and can neither list nor change the directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from deployd.unix.accounts import Account

USERNAME = "x-access-token"
"""The user name GitHub expects with a token as the password."""
SCRIPT = "askpass"
KEYFILE = "token"  # the token, one line
MAX_TOKEN = 1024


class AskpassError(RuntimeError):
    pass


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of an http(s) URL without credentials: whom the token is for."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AskpassError("a token is handed to git only for an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise AskpassError("the repository URL may not carry a user name or password")
    return parts.scheme, parts.netloc


def script(url: str, token_path: str) -> str:
    """The askpass program: the user name and the token, for `url`'s host only."""
    scheme, netloc = origin(url)
    username = f"Username for '{scheme}://{netloc}"
    password = f"Password for '{scheme}://{USERNAME}@{netloc}"

    def prompt(prefix: str) -> str:  # the host ends with the quote, or a path follows
        return f"{shlex.quote(prefix + chr(39))}*|{shlex.quote(prefix + '/')}*"

    return (
        "#!/bin/sh\n"
        f"# deployd: git's credentials for one fetch from {scheme}://{netloc}\n"
        "exec 2>/dev/null\n"
        'case "$1" in\n'
        f"{prompt(username)}) printf '%s\\n' {USERNAME} ;;\n"
        f"{prompt(password)}) IFS= read -r token < {shlex.quote(token_path)}"
        " && printf '%s\\n' \"$token\" ;;\n"
        "*) exit 1 ;;\n"
        "esac\n"
    )


def environment(askpass_path: str) -> dict[str, str]:
    """What git needs besides its usual environment (`Repo.env`)."""
    config = {
        "credential.helper": "",  # empty: no helper asks for or stores anything
        "credential.username": USERNAME,
        "credential.useHttpPath": "false",
    }
    env = {"GIT_ASKPASS": askpass_path, "GIT_TERMINAL_PROMPT": "0"}
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for n, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = key, value
    return env


@contextlib.contextmanager
def askpass(
    token: str, url: str, account: Account, directory: str | Path
) -> Iterator[dict[str, str]]:
    """The environment for one git command as `account` that fetches `url` with `token`."""
    if not token or len(token) > MAX_TOKEN or not token.isascii() or not token.isprintable():
        raise AskpassError("the token is empty, too long or not printable ASCII")
    if any(c.isspace() for c in token):
        raise AskpassError("the token has spaces in it")
    origin(url)
    parent = _trusted(Path(directory))
    name = f"fetch-{secrets.token_hex(8)}"
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
        here = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except BaseException:
        os.close(parent)
        raise
    path = os.path.join(directory, name)
    try:
        _write(here, KEYFILE, (token + "\n").encode(), 0o400, account)
        _write(here, SCRIPT, script(url, os.path.join(path, KEYFILE)).encode(), 0o500, account)
        if account.owner is not None:
            os.fchown(here, -1, account.gid)
            os.fchmod(here, 0o710)
        yield environment(os.path.join(path, SCRIPT))
    finally:
        for entry in (KEYFILE, SCRIPT):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=here)
        os.close(here)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(name, dir_fd=parent)
        os.close(parent)


def _trusted(directory: Path) -> int:
    """A descriptor of deployd's own directory for these (made if missing)."""
    directory.mkdir(mode=0o711, parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.close(fd)
        raise AskpassError(
            f"{directory} must belong to deployd's user and be writable by nobody else"
        )
    return fd


def _write(directory: int, name: str, data: bytes, mode: int, account: Account) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=directory)
    try:
        if account.owner is not None:
            os.fchown(fd, *account.owner)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
