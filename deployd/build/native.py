"""Native builds: a Procfile app, with a virtualenv for Python and npm for Node.

The source is unpacked into the build's own directory by the app's account, and every
build step runs there as that account, with a deadline; the daemon only creates the empty
directory (in its own `builds/`) and writes the marker beside it when every step
succeeded, so a failed or interrupted build never looks built. The build happens where the
release will run from, so paths a build writes (a virtualenv's scripts) stay valid.
Builds are cached by commit and build fingerprint: the same key is never built twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from deployd.domain import stacks
from deployd.domain.errors import DomainError
from deployd.domain.manifest import Manifest
from deployd.domain.sources import Snapshot, SourceError
from deployd.domain.text import escape
from deployd.unix.accounts import Account
from deployd.unix.children import reaped

from . import interpreters
from .artifacts import write_marker
from .unpack import UnpackError, unpack

LogLine = Callable[[str], Awaitable[None]]
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
MAX_LINE = 16 * 1024
"""A longer line of build output is cut into pieces of this size."""


class BuildError(RuntimeError):
    pass


def detect_stack(snapshot: Snapshot) -> str | None:
    if snapshot.has("requirements.txt") or snapshot.has("pyproject.toml"):
        return "python"
    if snapshot.has("package.json"):
        return "node"
    return None


def runtime_path(artifact: Path) -> str:
    """PATH for processes of this artifact: its virtualenv and node bins first (whether or
    not they exist: the daemon does not look inside an app's directory)."""
    extra = [artifact / ".venv" / "bin", artifact / "node_modules" / ".bin"]
    return ":".join([*(str(p) for p in extra), BASE_PATH])


async def build(
    tar: Path,
    snapshot: Snapshot,
    artifact: Path,
    manifest: Manifest,
    *,
    account: Account,
    env: dict[str, str],
    log: LogLine,
    python: str,
    pythons: tuple[str, ...] = (),
    timeout: float,
    max_file: int,
) -> None:
    """Turn the source in `tar` into `artifact`, as `account`, within `timeout` seconds."""
    interpreter, why = await asyncio.to_thread(_interpreter, snapshot, manifest, python, pythons)
    if why:
        await log(why)
    commands = _commands(snapshot, manifest, interpreter)  # bad input fails before work
    deadline = time.monotonic() + timeout
    await asyncio.to_thread(_fresh_dir, artifact, account)
    try:
        await unpack(tar, artifact, account, max_file, timeout)
        base_env = {"PATH": runtime_path(artifact), "HOME": str(artifact), "LANG": "C.UTF-8"}
        for command in commands:
            await log("$ " + " ".join(command))
            left = deadline - time.monotonic()
            if left <= 0:
                raise BuildError(
                    f"the build took longer than {timeout:.0f}s (DEPLOYD_BUILD_TIMEOUT)"
                )
            await run_command(command, artifact, {**base_env, **env}, account, log, timeout=left)
        write_marker(artifact, artifact.name, uid=account.uid)
    except UnpackError as exc:
        await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)
        raise BuildError(str(exc)) from None
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)
        raise


def _interpreter(
    snapshot: Snapshot, manifest: Manifest, python: str, pythons: tuple[str, ...]
) -> tuple[str, str]:
    """The Python the app asks for, or a check that this host's Node serves it (blocking:
    it asks interpreters their versions); the second item says why, for the build log."""
    try:
        if manifest.stack == "python":
            request = stacks.python_request(
                snapshot.text(".python-version"),
                snapshot.text("runtime.txt"),
                snapshot.text("pyproject.toml"),
            )
            default, others = interpreters.pythons(python, pythons)
            return stacks.choose_python(request, default, others)
        if manifest.stack == "node":
            installed = interpreters.node_version()
            if installed is None:
                raise BuildError("this is a Node app, and this host has no `node`")
            return python, stacks.check_node(
                stacks.node_engine(snapshot.text("package.json")), installed
            )
    except DomainError as exc:  # SourceError too: a symlinked or oversized file
        raise BuildError(str(exc)) from None
    return python, ""


def _fresh_dir(path: Path, account: Account) -> None:
    """An empty directory for the build, the account's own; a leftover of an interrupted
    build (no marker) is removed first. `path`'s parent is the daemon's."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o750)
    if account.owner is not None:
        os.chown(path, *account.owner, follow_symlinks=False)


def _commands(snapshot: Snapshot, manifest: Manifest, python: str) -> list[Sequence[str]]:
    commands: list[Sequence[str]] = []
    if manifest.stack == "python":
        commands.append([python, "-m", "venv", ".venv"])
        pip = [".venv/bin/pip", "install", "--no-input", "--disable-pip-version-check", "-q"]
        if snapshot.has("requirements.txt"):
            commands.append([*pip, "-r", "requirements.txt"])
        elif snapshot.has("pyproject.toml"):
            commands.append([*pip, "."])
    elif manifest.stack == "node":
        npm = shutil.which("npm") or "npm"
        lock = snapshot.has("package-lock.json")
        commands.append([npm, "ci" if lock else "install", "--no-audit", "--no-fund"])
        if "build" in _scripts(snapshot):
            commands.append([npm, "run", "build"])
    if manifest.build_command:
        # The app's own build command, from its own repository: run as the app would.
        commands.append(["/bin/sh", "-c", manifest.build_command])
    return commands


def _scripts(snapshot: Snapshot) -> dict[str, object]:
    try:
        text = snapshot.text("package.json")
    except SourceError as exc:
        raise BuildError(str(exc)) from None
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError) as exc:
        raise BuildError(f"package.json is not valid JSON: {escape(str(exc), 120)}") from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    return scripts if isinstance(scripts, dict) else {}


async def run_command(
    command: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    account: Account,
    log: LogLine,
    *,
    timeout: float,
    what: str = "build step",
) -> None:
    """Run one step as the app's account, streaming its output; raise on failure."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            **account.popen_kwargs(),  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise BuildError(f"cannot run {command[0]}: {exc.strerror}") from None
    assert process.stdout is not None
    try:
        async with reaped(process), asyncio.timeout(timeout):
            await _relay_lines(process.stdout, log)
            code = await process.wait()
    except TimeoutError:
        raise BuildError(f"the {what} took longer than {timeout:.0f}s") from None
    if code != 0:
        shown = escape(" ".join(command), 200)
        raise BuildError(f"{what} `{shown}` exited with status {code}")


async def _relay_lines(stream: asyncio.StreamReader, log: LogLine) -> None:
    """Hand each line of output to `log`, cutting lines longer than MAX_LINE: a program
    that never writes a newline cannot make the daemon buffer without end."""
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        while len(pending) > MAX_LINE:
            lines.append(pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
        for line in lines:
            await log(line.decode(errors="replace").rstrip("\r"))
    if pending:
        await log(pending.decode(errors="replace"))
