"""Versions of deployd to update to: a git repository made from this checkout (its files as
they are now), where each tag is the same code with another version number and, for some,
one change that a self-update must cope with."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.support.repos import git

ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = Path("deployd/__init__.py")


def bumped(version: str) -> str:
    """`0.1.0` → `0.1.1`: a version newer than the running one, as the tests need it."""
    major, minor, patch = (int(part) for part in version.split(".")[:3])
    return f"{major}.{minor}.{patch + 1}"


def _set_version(work: Path, version: str) -> None:
    path = work / VERSION_FILE
    text = re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', path.read_text())
    path.write_text(text)


def repository(base: Path, versions: dict[str, dict[str, str]]) -> Path:
    """A bare repository at `base/deployd.git` with one tag `v<version>` per entry; each
    entry's files (path → content, relative to the checkout) are changed in that version
    only. Returns the bare repository's path."""
    work = base / "deployd-work"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file() and not source.is_symlink():
            target = work / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "base")
    for version, changes in versions.items():
        git(work, "checkout", "--quiet", "main")
        git(work, "checkout", "--quiet", "-b", f"release-{version}")
        _set_version(work, version)
        for path, content in changes.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(content)
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", f"deployd {version}")
        git(work, "tag", f"v{version}")
    bare = base / "deployd.git"
    git(base, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare
