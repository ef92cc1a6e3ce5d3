"""Native builds: a Procfile app, with a virtualenv for Python and npm for Node.

The build happens in a fresh directory that is renamed into place only when every step
succeeded, so a failed or interrupted build never leaves something that looks built.
Builds are cached by commit and build fingerprint: the same key is never built twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from deployd.domain.manifest import Manifest

from .artifacts import write_marker
from .sandbox import Account

LogLine = Callable[[str], Awaitable[None]]
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


class BuildError(RuntimeError):
    pass


def detect_stack(source: Path) -> str | None:
    if (source / "requirements.txt").exists() or (source / "pyproject.toml").exists():
        return "python"
    if (source / "package.json").exists():
        return "node"
    return None


def runtime_path(artifact: Path) -> str:
    """PATH for processes of this artifact: its virtualenv and node bins first."""
    extra = [artifact / ".venv" / "bin", artifact / "node_modules" / ".bin"]
    return ":".join([*(str(p) for p in extra if p.is_dir()), BASE_PATH])


async def build(
    source: Path,
    artifact: Path,
    manifest: Manifest,
    *,
    account: Account,
    env: dict[str, str],
    log: LogLine,
    python: str,
) -> None:
    """Turn `source` (consumed) into `artifact`."""
    work = artifact.with_name(f".tmp-{artifact.name}-{uuid.uuid4().hex[:8]}")
    shutil.move(str(source), work)
    account.give(work)
    base_env = {"PATH": BASE_PATH, "HOME": str(work), "LANG": "C.UTF-8", **env}
    try:
        for command in _commands(work, manifest, python):
            await log("$ " + " ".join(command))
            step_env = {**base_env, "PATH": runtime_path(work)}
            await run_command(command, work, step_env, account, log)
        write_marker(work, artifact.name)
        if artifact.exists():  # built meanwhile by an identical job: keep the first
            shutil.rmtree(work)
        else:
            work.rename(artifact)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _commands(work: Path, manifest: Manifest, python: str) -> list[Sequence[str]]:
    commands: list[Sequence[str]] = []
    if manifest.stack == "python":
        commands.append([python, "-m", "venv", ".venv"])
        pip = [".venv/bin/pip", "install", "--no-input", "--disable-pip-version-check", "-q"]
        if (work / "requirements.txt").exists():
            commands.append([*pip, "-r", "requirements.txt"])
        elif (work / "pyproject.toml").exists():
            commands.append([*pip, "."])
    elif manifest.stack == "node":
        npm = shutil.which("npm") or "npm"
        lock = (work / "package-lock.json").exists()
        commands.append([npm, "ci" if lock else "install", "--no-audit", "--no-fund"])
        scripts = json.loads((work / "package.json").read_text()).get("scripts", {})
        if "build" in scripts:
            commands.append([npm, "run", "build"])
    if manifest.build_command:
        # The app's own build command, from its own repository: run as the app would.
        commands.append(["/bin/sh", "-c", manifest.build_command])
    return commands


async def run_command(
    command: Sequence[str], cwd: Path, env: dict[str, str], account: Account, log: LogLine
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
        async for raw in process.stdout:
            await log(raw.decode(errors="replace").rstrip("\n"))
        code = await process.wait()
    except asyncio.CancelledError:
        os.killpg(process.pid, 9)
        raise
    if code != 0:
        raise BuildError(f"build step `{' '.join(command)}` exited with status {code}")
