"""The vault's keys: Fernet keys in a file outside the database.

Fernet (cryptography's: AES-128-CBC with a random IV, authenticated by HMAC-SHA256) was
chosen over AES-GCM because `MultiFernet` gives rotation for free: encrypt with the first
key, decrypt with any, `rotate()` re-encrypts a token under the first. The file holds one
key per line, newest first, mode 0600; it is read again whenever it changes, so a running
daemon follows a `deployd keys rotate` without a restart.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from deployd import atomic


class VaultKeyError(RuntimeError):
    """The key file is missing, unreadable, malformed, too open, or the wrong one."""


class KeyRing:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[bytes] = []
        self._fernet: MultiFernet | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        """A new key file with one fresh key; never overwrites one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def keys(self) -> list[bytes]:
        self._load()
        return list(self._keys)

    def write(self, keys: list[bytes]) -> None:
        atomic.write(self.path, b"".join(k + b"\n" for k in keys), mode=0o600)
        self._stamp = None

    def encrypt(self, data: bytes) -> str:
        return self._load().encrypt(data).decode()

    def decrypt(self, token: str) -> bytes:
        try:
            return self._load().decrypt(token.encode())
        except InvalidToken:
            self._stamp = None  # perhaps rotated this very moment: read the file once more
            try:
                return self._load().decrypt(token.encode())
            except InvalidToken:
                raise VaultKeyError(
                    f"the key in {self.path} cannot decrypt this value: it is not the key "
                    "the value was written with"
                ) from None

    def rotate(self, token: str) -> str:
        """`token` re-encrypted under the first key."""
        try:
            return self._load().rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultKeyError(f"a stored value does not decrypt with {self.path}") from None

    def _load(self) -> MultiFernet:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            raise VaultKeyError(f"the vault key file {self.path} is missing") from None
        except OSError as exc:
            raise VaultKeyError(
                f"cannot read the vault key file {self.path}: {exc.strerror}"
            ) from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._fernet is not None and stamp == self._stamp:
            return self._fernet
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise VaultKeyError(
                f"the vault key file {self.path} is open to other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 it"
            )
        try:
            lines = self.path.read_bytes().split()
        except OSError as exc:
            raise VaultKeyError(
                f"cannot read the vault key file {self.path}: {exc.strerror}"
            ) from None
        keys = []
        for number, line in enumerate(lines, 1):
            try:
                keys.append(Fernet(line))
            except ValueError:
                raise VaultKeyError(
                    f"line {number} of {self.path} is not a vault key (32 url-safe base64 bytes)"
                ) from None
        if not keys:
            raise VaultKeyError(f"the vault key file {self.path} is empty")
        self._keys, self._fernet, self._stamp = lines, MultiFernet(keys), stamp
        return self._fernet
