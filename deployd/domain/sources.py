"""What the daemon knows of a source, and the limits it holds a source to.

A source reaches the daemon as one tar stream (`sources/snapshot.py` reads it); what it
learns is this: the top-level names, a few small top-level files it must read (the
manifest), and why it refused to read any of those. Pure data, so builders and rules can
use it without touching a filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import DomainError

MANIFEST_BYTES = 256 * 1024
"""The largest top-level file the daemon reads (a Procfile, deployd.toml, package.json)."""

READ = frozenset(
    {
        "Procfile",
        "deployd.toml",
        "package.json",
        "Dockerfile",
        "runtime.txt",
        ".python-version",
        "pyproject.toml",
        "app.json",
    }
)
"""The top-level files the daemon reads; of the others it only learns that they exist."""


class SourceError(DomainError):
    """A source the daemon will not take, in words for the person who deploys it."""


@dataclass(frozen=True, slots=True)
class Limits:
    total_bytes: int
    file_bytes: int
    members: int


@dataclass
class Snapshot:
    """What the daemon knows of a source: its top-level names and a few small files."""

    top: set[str] = field(default_factory=set)
    """Every top-level name (file, directory or link)."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Top-level regular files of READ, at most MANIFEST_BYTES each."""
    refused: dict[str, str] = field(default_factory=dict)
    """Top-level entries of READ the daemon will not read (a link, a directory, a file
    over MANIFEST_BYTES): why, in words."""
    size: int = 0
    """Bytes of file content."""
    members: int = 0
    digest: str = ""
    """sha256 of the stream (a content fingerprint when tar was made reproducibly)."""

    def has(self, name: str) -> bool:
        return name in self.top

    def text(self, name: str) -> str | None:
        """A top-level file's text; None when there is none. SourceError when the name is
        there but is no regular file the daemon may read."""
        if name in self.refused:
            raise SourceError(f"{name} {self.refused[name]}")
        data = self.files.get(name)
        return None if data is None else data.decode(errors="replace")


def human_size(n: float) -> str:
    """1536 → "1.5 KiB": sizes in messages."""
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
