"""What keeps the audit log honest from outside the database: a key and an anchor.

The log's hash chain lives in PostgreSQL, so whoever can write there could rewrite a row
and recompute every hash after it, or delete the newest rows and move the head back. Two
files only the daemon writes close both:
- the audit key (`audit.key` beside the vault's key, 0600): rows are chained with
  HMAC-SHA256 under it, so a row cannot be rewritten, nor a chain recomputed, without it;
- the anchor (`audit.anchor` in the data directory): the newest row deployd wrote, its
  hash, and the first keyed row, written after every append (only ever forward, under a
  lock, as the daemon and `deployd admin` may append at once), so rows deleted from the end
  are missed: the log no longer reaches the anchor.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from deployd import atomic


class AuditSealError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Anchor:
    keyed_from: int
    """The first row chained with the key (rows before it were written unkeyed, by a
    deployd older than the key)."""
    last_id: int
    last_hash: bytes


class AuditSeal:
    def __init__(self, key_file: Path, anchor_file: Path) -> None:
        self.key_file = key_file
        self.anchor_file = anchor_file
        self._key: bytes | None = None

    def has_key(self) -> bool:
        return self.key_file.exists()

    def create_key(self) -> None:
        """A new key; never overwrites one."""
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def key(self) -> bytes:
        if self._key is not None:
            return self._key
        try:
            fd = os.open(self.key_file, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise AuditSealError(
                f"cannot read the audit key {self.key_file}: {exc.strerror}"
            ) from None
        with os.fdopen(fd) as fh:
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
            if mode & 0o077:
                raise AuditSealError(
                    f"the audit key {self.key_file} is open to other users (mode {mode:04o}): "
                    "chmod 600 it"
                )
            text = fh.read(200).strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise AuditSealError(f"{self.key_file} is not an audit key (64 hex digits)")
        self._key = key
        return key

    def anchor(self) -> Anchor | None:
        try:
            data = json.loads(self.anchor_file.read_text())
            return Anchor(
                int(data["keyed_from"]), int(data["last_id"]), bytes.fromhex(data["last_hash"])
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditSealError(
                f"the audit anchor {self.anchor_file} is unreadable: {exc}"
            ) from None

    def advance(self, anchor: Anchor) -> None:
        """Record the newest row; an anchor already further on is kept."""
        self.anchor_file.parent.mkdir(parents=True, exist_ok=True)
        lock = self.anchor_file.with_name(self.anchor_file.name + ".lock")
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = self.anchor()
            if current is not None and current.last_id >= anchor.last_id:
                return
            content = {
                "keyed_from": anchor.keyed_from,
                "last_id": anchor.last_id,
                "last_hash": anchor.last_hash.hex(),
            }
            atomic.write(self.anchor_file, json.dumps(content) + "\n", mode=0o600)
        finally:
            os.close(fd)
