"""Real git repositories for deploy tests: a bare repo and a work tree that pushes to it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"
APPS = Path(__file__).resolve().parent / "apps"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
        },
    ).stdout.strip()


class Repo:
    """A work tree seeded with the example app, pushing to a bare repository."""

    def __init__(self, base: Path, name: str = "app") -> None:
        self.bare = base / f"{name}.git"
        self.work = base / f"{name}-work"
        git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        shutil.copytree(EXAMPLE, self.work)
        git(self.work, "init", "--quiet", "--initial-branch=main")
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.commit_sha = self.commit("the example app")

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def write(self, name: str, content: str) -> Repo:
        (self.work / name).write_text(content)
        return self

    def remove(self, name: str) -> Repo:
        (self.work / name).unlink()
        return self

    def commit(self, message: str, branch: str = "main") -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        git(self.work, "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        self.commit_sha = git(self.work, "rev-parse", "HEAD")
        return self.commit_sha

    def tag(self, name: str) -> None:
        git(self.work, "tag", name)
        git(self.work, "push", "--quiet", "origin", f"refs/tags/{name}")


def repository(base: Path, name: str, files: dict[str, str]) -> str:
    """A git repository holding exactly `files`; returns its file:// URL."""
    work = base / name
    work.mkdir(exist_ok=True)
    for path, content in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(content)
    return _published(base, name)


def from_tree(base: Path, name: str, source: Path, leave_out: tuple[str, ...] = ()) -> str:
    """A git repository of a directory's files byte for byte (images too, the executable
    bit kept), but its top-level files named in `leave_out`; returns its file:// URL."""

    def ignored(directory: str, names: list[str]) -> list[str]:
        top = Path(directory) == source
        return [n for n in names if n == "__pycache__" or (top and n in leave_out)]

    shutil.copytree(source, base / name, ignore=ignored)
    return _published(base, name)


def _published(base: Path, name: str) -> str:
    """Commits what base/name holds and pushes it to base/name.git's main."""
    work, bare = base / name, base / f"{name}.git"
    git(base, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    git(work, "init", "-q", "--initial-branch=main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "as its author wrote it")
    git(work, "push", "-q", str(bare), "HEAD:main")
    return f"file://{bare}"


def fixture_files(fixture: str) -> dict[str, str]:
    """The files of one of tests/support/apps, by their path in it."""
    return {
        str(path.relative_to(APPS / fixture)): path.read_text()
        for path in sorted((APPS / fixture).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def from_fixture(base: Path, fixture: str) -> str:
    """A repository of one of tests/support/apps, as its author would push it."""
    return repository(base, fixture, fixture_files(fixture))
