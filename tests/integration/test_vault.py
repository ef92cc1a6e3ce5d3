"""The vault key at start: made once, private, and a wrong or missing one stops the start
with what to do instead of turning every secret into garbage."""

from __future__ import annotations

import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.daemon import (
    RunningDaemon,
    kill_leftovers,
    start_daemon,
    world_readable_tempdir,
)
from tests.support.repos import EXAMPLE

SECRET = "pg-password-Zq8vW2mN5"


@pytest.fixture
def root() -> Iterator[Path]:
    base = world_readable_tempdir("deployd-vault-")
    yield base / "root"
    kill_leftovers(base / "root")
    shutil.rmtree(base, ignore_errors=True)


def start(root: Path, conninfo: str, *, wait: bool = True) -> RunningDaemon:
    return start_daemon(["serve"], root, {"DEPLOYD_DATABASE_URL": conninfo}, wait=wait)


def refused(root: Path, conninfo: str) -> str:
    daemon = start(root, conninfo, wait=False)
    try:
        daemon.process.wait(30)
    except subprocess.TimeoutExpired:
        daemon.stop()
        raise AssertionError(f"the daemon started anyway:\n{daemon.output()}") from None
    assert daemon.process.returncode == 1
    assert "Traceback" not in daemon.output()
    return daemon.output()


def test_a_wrong_or_missing_key_stops_the_start_and_the_right_one_reads_again(
    root: Path, fresh_db: str
) -> None:
    daemon = start(root, fresh_db)
    key = root / "secret.key"
    try:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        daemon.call("apps.create", {"name": "vaulted", "path": str(EXAMPLE)})
        daemon.call("env.set", {"app": "vaulted", "set": {"DB_PASSWORD": SECRET}})
    finally:
        daemon.stop()
    right = key.read_bytes()

    key.unlink()
    assert "is missing" in refused(root, fresh_db)
    assert not key.exists()  # no new key was made over the secrets of the old one

    key.write_bytes(Fernet.generate_key())
    key.chmod(0o600)
    assert "not the key" in refused(root, fresh_db)

    key.write_bytes(b"not a key at all\n")
    assert "is not a vault key" in refused(root, fresh_db)

    key.write_bytes(right)
    key.chmod(0o644)
    assert "chmod 600" in refused(root, fresh_db)

    key.chmod(0o600)
    daemon = start(root, fresh_db)
    try:
        revealed = daemon.call("env.reveal", {"app": "vaulted"})
        assert revealed.vars[0].value == SECRET  # type: ignore[attr-defined]
    finally:
        daemon.stop()
