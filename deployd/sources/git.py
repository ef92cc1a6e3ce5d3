"""Fetch a ref from a git repository into a clean directory, without a shell.

Each app keeps a bare mirror under its data dir; a deploy fetches into it, resolves the
ref to a commit and exports that commit's tree with `git archive` (no .git in the build).
Every user value is validated by `deployd.domain.apps` first and follows `--` or
`--end-of-options`, so it can never be read as an option.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from deployd.domain.apps import SHA


class GitError(RuntimeError):
    pass


def _git(*args: str, timeout: float = 300) -> bytes:
    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed on this host")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
        "LC_ALL": "C",
    }
    try:
        result = subprocess.run(
            [git, *args], capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {timeout:.0f}s") from None
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(lines[-1] if lines else f"git {args[0]} failed")
    return result.stdout


def sync_mirror(url: str, mirror: Path) -> None:
    if (mirror / "HEAD").exists():
        _git("--git-dir", str(mirror), "fetch", "--prune", "--quiet", "--", "origin")
        return
    mirror.parent.mkdir(parents=True, exist_ok=True)
    tmp = mirror.with_name(mirror.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _git("clone", "--mirror", "--quiet", "--", url, str(tmp))
    tmp.rename(mirror)


def resolve(mirror: Path, ref: str) -> str:
    """The commit a branch, tag or (abbreviated) sha names."""
    candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    if SHA.fullmatch(ref):
        candidates.append(ref)
    for candidate in candidates:
        try:
            out = _git(
                "--git-dir",
                str(mirror),
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{candidate}^{{commit}}",
            )
        except GitError:
            continue
        return out.decode().strip()
    raise GitError(f"no branch, tag or commit named {ref!r} in the repository")


def default_branch(mirror: Path) -> str:
    out = _git("--git-dir", str(mirror), "symbolic-ref", "--short", "HEAD")
    return out.decode().strip()


def export(mirror: Path, commit: str, dest: Path) -> None:
    archive = _git("--git-dir", str(mirror), "archive", "--format=tar", commit)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
