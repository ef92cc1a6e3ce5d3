"""Encryption of files that leave the host, with age (age-encryption.org): a standard,
streaming, authenticated format an operator can decrypt with the `age` tool alone and the
identity deployd printed when remote storage was set up.

The identity reaches `age -d` on its standard input, never on a command line or in a file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

RECIPIENT = re.compile(r"^age1[0-9a-z]{58}$")
IDENTITY = re.compile(r"^AGE-SECRET-KEY-1[0-9A-Z]{58}$")


class CryptError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class KeyPair:
    identity: str
    """The secret: decrypts."""
    recipient: str
    """Public: encrypts."""


def _binary(name: str) -> str:
    found = shutil.which(name, path="/usr/bin:/bin:/usr/local/bin")
    if found is None:
        raise CryptError(f"{name} is not installed (Debian: `apt-get install age`)")
    return found


def generate() -> KeyPair:
    done = subprocess.run(
        [_binary("age-keygen")], capture_output=True, text=True, check=False, timeout=30
    )
    identity = next(
        (line for line in done.stdout.splitlines() if line.startswith("AGE-SECRET-KEY-")), ""
    )
    if done.returncode != 0 or not IDENTITY.fullmatch(identity):
        raise CryptError(f"age-keygen failed: {done.stderr.strip()[:200]}")
    return KeyPair(identity, recipient_of(identity))


def recipient_of(identity: str) -> str:
    done = subprocess.run(
        [_binary("age-keygen"), "-y"],
        input=identity + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    recipient = done.stdout.strip()
    if done.returncode != 0 or not RECIPIENT.fullmatch(recipient):
        raise CryptError("not an age identity")
    return recipient


def encrypt(source: Path, target: Path, recipient: str) -> None:
    if not RECIPIENT.fullmatch(recipient):
        raise CryptError("not an age recipient")
    with open(source, "rb") as plain, open(target, "xb") as sealed:
        done = subprocess.run(
            [_binary("age"), "--encrypt", "--recipient", recipient],
            stdin=plain,
            stdout=sealed,
            stderr=subprocess.PIPE,
            check=False,
        )
    if done.returncode != 0:
        raise CryptError(f"age could not encrypt: {done.stderr.decode(errors='replace')[:300]}")


def decrypt(source: Path, target: Path, identity: str) -> None:
    """The identity goes to age through a pipe it reads as its identity file (well under a
    pipe's buffer, so it is written whole before age starts)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, (identity + "\n").encode())
    finally:
        os.close(write_end)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(source, "rb") as sealed, os.fdopen(fd, "wb") as plain:
            done = subprocess.run(
                [_binary("age"), "--decrypt", "--identity", f"/dev/fd/{read_end}"],
                stdin=sealed,
                stdout=plain,
                stderr=subprocess.PIPE,
                pass_fds=(read_end,),
                check=False,
            )
    finally:
        os.close(read_end)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[:300]
        raise CryptError(f"age could not decrypt: {said}")
