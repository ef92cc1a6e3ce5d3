"""Running a short command as an account, with bounded output and a time limit.

For the small questions the daemon asks as someone else ("can this user read that
directory?", "which commit is this branch?"): the output kept is bounded, so a hostile
repository or path cannot make the daemon hold more than `MAX_OUTPUT` bytes of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from .accounts import Account

MAX_OUTPUT = 64 * 1024
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True, slots=True)
class Finished:
    code: int
    stdout: bytes
    stderr: bytes

    def last_error_line(self) -> str:
        lines = self.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {self.code}"


class ChildError(RuntimeError):
    pass


async def run(
    argv: Sequence[str],
    account: Account,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    timeout: float = 60.0,
) -> Finished:
    """Run `argv` as `account` (no shell, stdin closed); raise ChildError only when it
    cannot run or takes too long; its exit status is the caller's to judge."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env or {"PATH": BASE_PATH, "LC_ALL": "C"}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            **account.popen_kwargs(),  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise ChildError(f"cannot run {argv[0]}: {exc.strerror}") from None
    assert process.stdout is not None and process.stderr is not None
    try:
        async with reaped(process), asyncio.timeout(timeout):
            stdout, stderr = await asyncio.gather(bounded(process.stdout), bounded(process.stderr))
            code = await process.wait()
    except TimeoutError:
        raise ChildError(f"{os.path.basename(argv[0])} took longer than {timeout:.0f}s") from None
    return Finished(code, stdout, stderr)


@contextlib.asynccontextmanager
async def reaped(process: asyncio.subprocess.Process) -> AsyncIterator[None]:
    """However the block ends (a timeout, a cancelled job), the child's whole process
    group (it was started in a session of its own) is gone afterwards."""
    try:
        yield
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def bounded(stream: asyncio.StreamReader) -> bytes:
    """Read to the end, keeping at most MAX_OUTPUT bytes (the rest is drained, so the
    child never blocks on a full pipe)."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        room = MAX_OUTPUT - len(kept)
        if room > 0:
            kept += chunk[:room]
    return bytes(kept)
