"""A source as one tar stream: checked as it passes, saved, and read without a filesystem.

Whatever produces a source (`git archive` as the app's account, `tar -c` as the user who
asked) writes a tar stream to a pipe. The daemon reads that stream once, in a thread: it
checks every member (names inside the tree; regular files, directories and links only; no
file over the size limit, no more than the member limit, no more bytes in all than the
source limit, each refused at its header, before its data is read), copies the bytes to a
file only the daemon can reach, hashes them, and keeps the few top-level files it must read
(Procfile, deployd.toml, package.json, Dockerfile, ...) in memory, bounded. So the root
daemon learns what it needs of a source without ever opening a path inside it: no
symlink, FIFO or oversized file an app or deployer controls can be made to reach root.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import PurePosixPath
from typing import BinaryIO

from deployd.domain.sources import MANIFEST_BYTES, READ, Limits, Snapshot, SourceError, human_size
from deployd.domain.text import excerpt


class _Tee:
    """The pipe, as tarfile reads it: every byte is also saved, hashed and counted."""

    def __init__(self, source: BinaryIO, copy: BinaryIO, limit: int) -> None:
        self.source, self.copy, self.limit = source, copy, limit
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size if size >= 0 else 1 << 20)
        self.count += len(data)
        if self.count > self.limit:
            raise SourceError(f"the source is larger than {human_size(self.limit)}")
        self.copy.write(data)
        self.hash.update(data)
        return data


def read_stream(stream: BinaryIO, copy: BinaryIO, limits: Limits) -> Snapshot:
    """Read a tar stream to its end, checking it; raises SourceError at the first fault."""
    tee = _Tee(stream, copy, limits.total_bytes + limits.members * 1536 + 10240)
    snapshot = Snapshot()
    try:
        with tarfile.open(fileobj=tee, mode="r|") as tar:  # type: ignore[call-overload]
            while (member := tar.next()) is not None:
                _check(member, snapshot, limits)
                _keep(tar, member, snapshot)
                tar.members.clear()  # a stream is read once: hold no list of members
        # the stream may go on after the end-of-archive blocks: it is the producer's
        while tee.read(1 << 20):
            pass
    except tarfile.TarError as exc:
        raise SourceError(f"the source is not a readable tar stream ({exc})") from None
    snapshot.digest = tee.hash.hexdigest()
    return snapshot


def _name(member: tarfile.TarInfo) -> str:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise SourceError(f"the source has a path outside itself: {excerpt(member.name)}")
    return "/".join(part for part in path.parts if part != ".")


def _check(member: tarfile.TarInfo, snapshot: Snapshot, limits: Limits) -> None:
    name = _name(member)
    snapshot.members += 1
    if snapshot.members > limits.members:
        raise SourceError(f"the source has more than {limits.members:,} files")
    if member.isreg():
        if member.size > limits.file_bytes:
            raise SourceError(
                f"{excerpt(name)} is {human_size(member.size)}: files of a source may be at most "
                f"{human_size(limits.file_bytes)} (DEPLOYD_MAX_FILE_SIZE)"
            )
        snapshot.size += member.size
        if snapshot.size > limits.total_bytes:
            raise SourceError(
                f"the source is larger than {human_size(limits.total_bytes)} "
                "(DEPLOYD_MAX_SOURCE_SIZE)"
            )
    elif member.islnk():
        target = PurePosixPath(member.linkname)
        if target.is_absolute() or ".." in target.parts:
            raise SourceError(f"{excerpt(name)} is a hard link outside the source")
    elif not (member.isdir() or member.issym()):
        raise SourceError(
            f"{excerpt(name)} is a device, FIFO or socket: a source holds files, directories "
            "and links only"
        )
    if name and "/" not in name:
        snapshot.top.add(name)


def _keep(tar: tarfile.TarFile, member: tarfile.TarInfo, snapshot: Snapshot) -> None:
    name = _name(member)
    if name not in READ:
        return
    snapshot.files.pop(name, None)
    if not member.isreg():
        what = f"a link to {excerpt(member.linkname)}" if member.linkname else "not a file"
        snapshot.refused[name] = f"is {what}: deployd reads only a regular file"
        return
    if member.size > MANIFEST_BYTES:
        snapshot.refused[name] = (
            f"is {human_size(member.size)}: deployd reads such a file only up to "
            f"{human_size(MANIFEST_BYTES)}"
        )
        return
    handle = tar.extractfile(member)
    assert handle is not None
    snapshot.files[name] = handle.read(MANIFEST_BYTES)
    snapshot.refused.pop(name, None)
