"""Running a source's producer as an account and taking its tar stream.

The producer (`git archive`, `tar -c`) runs as the account whose rights it reads with; its
standard output is read here, in a thread, by `snapshot.read_stream`, which checks, hashes
and saves it. A producer that fails is reported by its own last words (an escaped excerpt);
one that writes more than the limits allow is killed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from deployd.domain.sources import Limits, Snapshot, SourceError
from deployd.domain.text import escape
from deployd.unix.accounts import Account

from .snapshot import read_stream

STDERR_KEPT = 4096


async def capture(
    argv: Sequence[str],
    account: Account,
    *,
    env: Mapping[str, str],
    copy_to: Path,
    limits: Limits,
    timeout: float,
    ok_codes: tuple[int, ...] = (0,),
    cwd: str = "/",
) -> Snapshot:
    """Run `argv` as `account` and read its output as a source; `copy_to` receives the
    stream (a file in a directory only the daemon can reach)."""
    with tempfile.TemporaryFile() as errors, copy_to.open("xb") as copy:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
                close_fds=True,
                **account.popen_kwargs(),  # type: ignore[call-overload]
            )
        except OSError as exc:
            raise SourceError(f"cannot run {argv[0]}: {exc.strerror}") from None
        assert process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                try:
                    snapshot = await asyncio.to_thread(read_stream, process.stdout, copy, limits)
                    failure = None
                except SourceError as exc:
                    snapshot, failure = None, exc
                    _kill(process)
                code = await asyncio.to_thread(process.wait)
        except TimeoutError:
            raise SourceError(f"reading the source took longer than {timeout:.0f}s") from None
        finally:
            _kill(process)
            await asyncio.to_thread(process.wait)
            process.stdout.close()
        if failure is None and code not in ok_codes:
            errors.seek(max(0, os.fstat(errors.fileno()).st_size - STDERR_KEPT))
            raise SourceError(_last_line(errors.read(), argv[0], code))
        if failure is not None:
            raise failure
        assert snapshot is not None
        return snapshot


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _last_line(stderr: bytes, program: str, code: int) -> str:
    lines = [
        line
        for line in stderr.decode(errors="replace").splitlines()
        if line.strip() and "Exiting with failure status" not in line  # tar's summary
    ]
    name = os.path.basename(program)
    if not lines:
        return f"{name} failed (exit status {code})"
    return f"{name}: {escape(lines[-1].strip(), 200)}"
