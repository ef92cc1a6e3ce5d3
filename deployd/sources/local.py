"""A local directory as a source: copied (never built in place) and fingerprinted by content."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

IGNORED = {".git", "__pycache__", ".venv", "node_modules", ".deployd"}


class SourceError(RuntimeError):
    pass


def copy_tree(source: Path, dest: Path) -> str:
    """Copy `source` into `dest`; returns a digest of what was copied (the "commit")."""
    if not source.is_dir():
        raise SourceError(f"{source} is not a directory")
    shutil.copytree(
        source, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True, dirs_exist_ok=True
    )
    return digest(dest)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            h.update(rel.encode() + b"\0")
            if path.is_symlink():
                h.update(b"link:" + os.readlink(path).encode())
            else:
                h.update(b"x" if os.access(path, os.X_OK) else b"-")
                h.update(path.read_bytes())
            h.update(b"\0")
    return "dir-" + h.hexdigest()[:32]
