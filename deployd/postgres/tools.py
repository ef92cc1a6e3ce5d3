"""pg_dump, pg_restore and psql, run as an unprivileged account with argument lists.

The admin's password reaches a tool only through its own environment (PGPASSWORD), never
its command line; a dump streams through the daemon, which hashes and writes it, so the
tool's account never opens a file of deployd's.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
STDERR_KEPT = 4000


class ToolFailed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Written:
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Login:
    """A role's way in over TCP (its password goes in the tool's environment only)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    def variables(self) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
        }


@dataclass(frozen=True, slots=True)
class Tools:
    bindir: Path
    """Where the PostgreSQL client programs are (the newest installed: a dump must be
    made by a pg_dump at least as new as the server)."""
    account: str | None
    """Who runs them when the daemon is root (None: the daemon's own user)."""
    admin_env: Callable[[], Mapping[str, str]]
    """PGHOST, PGPORT, PGUSER, PGPASSWORD of the admin (read when a tool runs: the dev
    cluster's port is known once it is made)."""

    def _popen_kwargs(self) -> dict[str, object]:
        if self.account is None:
            return {}
        entry = pwd.getpwnam(self.account)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "HOME": "/",
            "PGCONNECT_TIMEOUT": "10",
            **self.admin_env(),
        }

    def dump(self, database: str, snapshot: str, out: BinaryIO) -> Written:
        """`pg_dump -Fc` of the snapshot, written to `out` as it comes, hashed on the way."""
        argv = [
            str(self.bindir / "pg_dump"),
            "--format=custom",
            f"--snapshot={snapshot}",
            "--no-password",
            f"--dbname={database}",
        ]
        digest, size = hashlib.sha256(), 0
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(  # type: ignore[call-overload]
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self._env(),
                cwd="/",
                close_fds=True,
                **self._popen_kwargs(),
            )
            try:
                assert process.stdout is not None
                while chunk := process.stdout.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            except BaseException:
                process.kill()
                process.wait()
                raise
            status = process.wait()
            if status != 0:
                raise ToolFailed(f"pg_dump exited with status {status}: {_said(errors)}")
        return Written(size, digest.hexdigest())

    def count_table_data(self, dump: Path) -> int:
        """How many tables' rows the dump holds, as pg_restore reads its catalogue; fails
        on a file pg_restore cannot read (truncated, corrupt, not a dump)."""
        listing = self._run([str(self.bindir / "pg_restore"), "--list"], stdin=dump)
        return sum(1 for line in listing.splitlines() if _is_table_data(line))

    def restore(self, dump: Path, database: str, role: Login) -> None:
        """Restore into the empty `database`, connected as the database's own role, never
        as the admin: what the dump holds (an app's functions, run by its constraints and
        indexes as the rows load) runs with the app's rights only, and what it makes is
        the app's."""
        self._run(
            [
                str(self.bindir / "pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--no-password",
                f"--dbname={database}",
            ],
            stdin=dump,
            login=role,
        )

    def _run(self, argv: list[str], *, stdin: Path, login: Login | None = None) -> str:
        with (
            open(stdin, "rb") as source,  # opened by the daemon: the tool reads a descriptor
            tempfile.TemporaryFile() as output,
            tempfile.TemporaryFile() as errors,
        ):
            status = subprocess.run(  # type: ignore[call-overload]
                argv,
                stdin=source,
                stdout=output,
                stderr=errors,
                env={**self._env(), **(login.variables() if login else {})},
                cwd="/",
                close_fds=True,
                check=False,
                **self._popen_kwargs(),
            ).returncode
            if status != 0:
                tool = Path(argv[0]).name
                raise ToolFailed(f"{tool} exited with status {status}: {_said(errors)}")
            output.seek(0)
            return output.read().decode(errors="replace")

    def psql(self, host: str, port: int, role: str) -> list[str]:
        """The command of an interactive psql as `role` (its password comes in PGPASSWORD)."""
        return [
            str(self.bindir / "psql"),
            f"--host={host}",
            f"--port={port}",
            f"--username={role}",
            f"--dbname={role}",
        ]


def _is_table_data(line: str) -> bool:
    """`3337; 0 16390 TABLE DATA public orders shop`: the entry's kind is the fourth and
    fifth fields, before any name an app chose."""
    fields = line.split()
    return len(fields) > 4 and fields[0].endswith(";") and fields[3:5] == ["TABLE", "DATA"]


def _said(errors: BinaryIO) -> str:
    errors.seek(0, os.SEEK_END)
    size = errors.tell()
    errors.seek(max(0, size - STDERR_KEPT))
    lines = errors.read().decode(errors="replace").strip().splitlines()
    return " / ".join(lines[-3:]) or "no message"
