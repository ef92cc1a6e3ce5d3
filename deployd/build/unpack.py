"""Unpacking a source's saved tar stream into a build directory, as the app's account.

The daemon checked every member of the stream as it arrived (`sources.snapshot`); the
unpacking itself runs as the app's account (GNU tar, which also refuses names outside the
directory), so even an archive the checks misjudged can only write where the app may
write anyway. `prlimit --fsize` caps every file it writes at the single-file limit: a
sparse member cannot grow past it either.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from deployd.domain.text import escape
from deployd.unix.accounts import Account
from deployd.unix.children import BASE_PATH, bounded, reaped


class UnpackError(RuntimeError):
    pass


async def unpack(tar: Path, dest: Path, account: Account, max_file: int, timeout: float) -> None:
    """Unpack `tar` (a file only the daemon can reach) into `dest` (a directory `account`
    owns)."""
    argv = [
        "prlimit",
        f"--fsize={max_file}",
        "--",
        "tar",
        "--extract",
        "--file=-",
        "--no-same-owner",
        "--delay-directory-restore",
        "--touch",
        f"--directory={dest}",
    ]
    with tar.open("rb") as stream:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd="/",
            env={"PATH": BASE_PATH, "LC_ALL": "C"},
            stdin=stream,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            **account.popen_kwargs(),  # type: ignore[arg-type]
        )
        assert process.stderr is not None
        try:
            async with reaped(process), asyncio.timeout(timeout):
                errors = await bounded(process.stderr)
                await process.wait()
        except TimeoutError:
            raise UnpackError(f"unpacking the source took longer than {timeout:.0f}s") from None
    if process.returncode != 0:
        lines = errors[-4096:].decode(errors="replace").strip().splitlines()
        raise UnpackError(
            "cannot unpack the source: " + escape(lines[-1] if lines else "tar failed", 200)
        )
