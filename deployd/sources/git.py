"""git sources: resolve a ref, and export a commit as a tar stream, as the right account.

Two kinds of repository, two accounts:
- `file://` URLs are the deployer's own repositories on this host: every git command runs
  as the Unix user who chose the source, directly on their repository (no copy), so nobody
  deploys a repository they could not read themselves.
- Network URLs are fetched into a bare mirror owned by the app's account, and every git
  command on that mirror runs as that account: the root daemon never runs git in a
  directory an app or a deployer controls.
Every user value is validated by `deployd.domain.apps` first and follows `--` or
`--end-of-options`, so it can never be read as an option.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from deployd.domain.apps import SHA
from deployd.domain.sources import human_size
from deployd.domain.text import escape
from deployd.unix.accounts import Account
from deployd.unix.children import BASE_PATH, ChildError, Finished, run


class GitError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Repo:
    """Where git looks (`-C` a deployer's repository, or `--git-dir` a mirror) and as whom."""

    location: tuple[str, ...]
    account: Account
    ceiling: str | None = None
    extra_env: tuple[tuple[str, str], ...] = ()
    """More environment for git (a token's askpass: `deployd.sources.git_askpass`)."""

    @classmethod
    def local(cls, url: str, account: Account) -> Repo:
        path = url.removeprefix("file://")
        return cls(("-C", path), account, ceiling=str(PurePosixPath(path).parent))

    @classmethod
    def mirror(cls, path: str, account: Account) -> Repo:
        return cls(("--git-dir", path), account)

    def with_env(self, extra: Mapping[str, str]) -> Repo:
        return dataclasses.replace(self, extra_env=tuple(extra.items()))

    def env(self) -> dict[str, str]:
        env = {
            "PATH": BASE_PATH,
            "HOME": self.account.home,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "LC_ALL": "C",
        }
        if self.ceiling is not None:  # the path itself, never a repository above it
            env["GIT_CEILING_DIRECTORIES"] = self.ceiling
        return env | dict(self.extra_env)

    def argv(self, *args: str) -> list[str]:
        return ["git", *self.location, *args]

    async def git(self, *args: str, timeout: float = 300, max_file: int | None = None) -> Finished:
        """Run git; `max_file` caps every file it writes (a fetched pack, say)."""
        argv = self.argv(*args)
        if max_file is not None:
            argv = ["prlimit", f"--fsize={max_file}", "--", *argv]
        try:
            done = await run(argv, self.account, env=self.env(), timeout=timeout)
        except ChildError as exc:
            raise GitError(str(exc)) from None
        if (
            max_file is not None
            and done.code != 0
            and (done.code == -signal.SIGXFSZ or b"index-pack" in done.stderr)
        ):  # index-pack, writing the pack, met the file size limit (SIGXFSZ)
            raise GitError(
                f"the repository is larger than the {human_size(max_file)} sources may hold "
                f"(DEPLOYD_MAX_SOURCE_SIZE; git: {escape(done.last_error_line(), 120)})"
            )
        if done.code != 0:
            raise GitError(escape(done.last_error_line(), 200))
        return done


def is_local(url: str) -> bool:
    return url.startswith("file://")


async def check_readable(url: str, account: Account) -> None:
    """GitError unless `account` can read the repository at a `file://` URL (the same words
    whether it is missing or forbidden)."""
    try:
        await Repo.local(url, account).git("rev-parse", "--git-dir", timeout=30)
    except GitError:
        raise GitError(
            f"{account.name} cannot read a git repository at {url.removeprefix('file://')} "
            "(there is none, or they may not read it)"
        ) from None


async def is_repository(repo: Repo) -> bool:
    try:
        await repo.git("rev-parse", "--git-dir", timeout=30)
    except GitError:
        return False
    return True


async def fetch(repo: Repo, timeout: float, max_bytes: int) -> None:
    """Bring a mirror up to date with its origin."""
    await repo.git(
        "fetch", "--prune", "--quiet", "--", "origin", timeout=timeout, max_file=max_bytes
    )


async def clone_mirror(
    url: str,
    path: str,
    account: Account,
    timeout: float,
    max_bytes: int,
    env: Mapping[str, str] | None = None,
) -> None:
    """Clone `url` into `path`, an empty directory `account` owns (`env`: a token's
    askpass, from `deployd.sources.git_askpass`)."""
    await (
        Repo((), account)
        .with_env(env or {})
        .git("clone", "--mirror", "--quiet", "--", url, path, timeout=timeout, max_file=max_bytes)
    )


async def resolve(repo: Repo, ref: str) -> str:
    """The commit a branch, tag or (abbreviated) sha names."""
    candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    if SHA.fullmatch(ref):
        # a whole sha is that commit, whatever a branch may be named; a short one is tried
        # last, after the names it could also be
        candidates.insert(0 if len(ref) == 40 else 2, ref)
    for candidate in candidates:
        try:
            done = await repo.git(
                "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"
            )
        except GitError:
            continue
        return done.stdout.decode().strip()
    raise GitError(f"no branch, tag or commit named {ref!r} in the repository")


async def default_branch(repo: Repo) -> str:
    done = await repo.git("symbolic-ref", "--short", "HEAD")
    return done.stdout.decode().strip()


def archive_argv(repo: Repo, commit: str) -> list[str]:
    """`git archive` of a resolved commit (40 hex digits, never a user's text)."""
    if not SHA.fullmatch(commit):
        raise GitError(f"not a commit: {commit!r}")
    return repo.argv("archive", "--format=tar", commit)
