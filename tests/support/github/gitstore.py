"""Bare git repositories the stand-in serves, changed with git's plumbing (no work tree)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40
AUTHOR_NAME = "Stand-in Tester"
AUTHOR_EMAIL = "tester@example.com"


class GitError(RuntimeError):
    pass


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str  # ISO 8601 with the author's offset, as git records it


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclass(frozen=True)
class Changes:
    added: list[str]
    removed: list[str]
    modified: list[str]


def git_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "LC_ALL": "C",
    }


class BareRepo:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path, default_branch: str) -> BareRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
        return repo

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.path if self.path.exists() else self.path.parent,
            input=stdin,
            capture_output=True,
            env={**git_env(self.path.parent), **(env or {})},
            check=False,
        )
        if check and result.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace')}")
        return result.stdout.decode().strip()

    def resolve(self, ref: str) -> str | None:
        """The commit `ref` names (a branch, tag, full or short sha), or None."""
        if ref.startswith("-") or not ref:
            return None
        sha = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return sha or None

    def branches(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def branch_sha(self, branch: str) -> str | None:
        out = self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        return out or None

    def commit_files(
        self, parent: str | None, files: Mapping[str, str | bytes | None], message: str
    ) -> str:
        """A new commit on `parent` with `files` written (None removes one); its sha."""
        with tempfile.TemporaryDirectory() as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent is not None:
                self.git("read-tree", parent, env=index)
            for name, content in files.items():
                if content is None:
                    self.git("update-index", "--force-remove", "--", name, env=index)
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = self.git("hash-object", "-w", "--stdin", stdin=data)
                self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=index)
            tree = self.git("write-tree", env=index)
        parents = ["-p", parent] if parent else []
        return self.git("commit-tree", tree, *parents, "-m", message)

    def merge(self, base: str, head: str, message: str) -> str | None:
        """A merge commit of `head` into `base` (both shas), or None on a conflict."""
        tree = self.git("merge-tree", "--write-tree", "--no-messages", base, head, check=False)
        first = tree.splitlines()[0] if tree else ""
        if len(first) != 40 or "CONFLICT" in tree or len(tree.splitlines()) > 1:
            return None
        return self.git("commit-tree", first, "-p", base, "-p", head, "-m", message)

    def set_ref(self, ref: str, new: str, old: str | None) -> None:
        if new == ZERO_SHA:
            self.git("update-ref", "-d", ref, *([old] if old else []))
        else:
            self.git("update-ref", ref, new, old or ZERO_SHA)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        result = subprocess.run(
            ["git", "merge-base", "--is-ancestor", ancestor, descendant],
            cwd=self.path,
            env=git_env(self.path.parent),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def new_commits(self, before: str | None, after: str) -> list[str]:
        """Commits a push of `after` brings, oldest first (for a new branch: not on another)."""
        spec = [f"{before}..{after}"] if before else [after, "--not", "--branches"]
        return self.git("rev-list", "--reverse", *spec).split()

    def info(self, sha: str) -> CommitInfo:
        fmt = "%H%n%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B"
        out = self.git("show", "-s", f"--format={fmt}", sha)
        lines = out.split("\n")
        return CommitInfo(
            sha=lines[0],
            tree=lines[1],
            parents=tuple(lines[2].split()),
            author=Person(lines[3], lines[4], lines[5]),
            committer=Person(lines[6], lines[7], lines[8]),
            message="\n".join(lines[9:]).strip(),
        )

    def changes(self, sha: str) -> Changes:
        out = self.git("diff-tree", "--root", "--no-commit-id", "--name-status", "-r", sha)
        added: list[str] = []
        removed: list[str] = []
        modified: list[str] = []
        for line in out.splitlines():
            status, _, name = line.partition("\t")
            {"A": added, "D": removed}.get(status[:1], modified).append(name)
        return Changes(added, removed, modified)

    def fetch(self, source: BareRepo, src_ref: str, dst_ref: str) -> None:
        self.git("fetch", "--quiet", "--no-tags", str(source.path), f"+{src_ref}:{dst_ref}")
