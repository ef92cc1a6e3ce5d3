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
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from deployd.domain import stacks
from deployd.domain.errors import DomainError
from deployd.domain.manifest import Manifest
from deployd.domain.sources import Snapshot
from deployd.domain.text import escape
from deployd.unix.accounts import Account
from deployd.unix.children import reaped

from . import interpreters, steps
from .artifacts import write_marker
from .unpack import UnpackError, unpack

LogLine = Callable[[str], Awaitable[None]]
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
MAX_LINE = 16 * 1024
"""A longer line of build output is cut into pieces of this size."""


class BuildError(RuntimeError):
    pass


PYTHON_MARKERS = (
    "requirements.txt",
    "pyproject.toml",
    "uv.lock",
    "Pipfile",
    "Pipfile.lock",
    "setup.py",
)
"""The files that make a source a Python app, as Heroku's buildpack detects it."""


def detect_stack(snapshot: Snapshot) -> str | None:
    if any(snapshot.has(name) for name in PYTHON_MARKERS):
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
    cache: Path | None = None,
) -> None:
    """Turn the source in `tar` into `artifact`, as `account`, within `timeout` seconds;
    `cache` is the app's own directory for package managers' downloads."""
    interpreter, why = await asyncio.to_thread(_interpreter, snapshot, manifest, python, pythons)
    if why:
        await log(why)
    try:  # bad input fails before any work
        planned = steps.plan(snapshot, manifest, interpreter, env)
    except steps.PlanError as exc:
        raise BuildError(str(exc)) from None
    deadline = time.monotonic() + timeout
    await asyncio.to_thread(_fresh_dir, artifact, account)
    try:
        await unpack(tar, artifact, account, max_file, timeout)
        base_env = {
            "PATH": runtime_path(artifact),
            "HOME": str(artifact),
            "LANG": "C.UTF-8",
            **cache_env(cache),
            **host_trust(),
        }
        for step in planned:
            if step.why:
                await log(step.why)
            if not step.argv:
                continue
            await log("$ " + " ".join(step.argv))
            left = deadline - time.monotonic()
            if left <= 0:
                raise BuildError(
                    f"the build took longer than {timeout:.0f}s (DEPLOYD_BUILD_TIMEOUT)"
                )
            await run_command(
                step.argv,
                artifact,
                {**base_env, **env},
                account,
                log,
                timeout=left,
                shown=step.shown,
            )
        write_marker(artifact, artifact.name, uid=account.uid)
    except UnpackError as exc:
        await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)
        raise BuildError(str(exc)) from None
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)
        raise


SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def host_trust() -> dict[str, str]:
    """Node and uv trust their own CA lists; pip, git and curl the host's. Builds make all
    of them trust the host's, so a registry behind a CA the host added (a company's proxy)
    works for every package manager alike."""
    if not SYSTEM_CA_BUNDLE.is_file():
        return {}
    return {
        "NODE_EXTRA_CA_CERTS": str(SYSTEM_CA_BUNDLE),
        "SSL_CERT_FILE": str(SYSTEM_CA_BUNDLE),
        "UV_NATIVE_TLS": "1",
    }


def cache_env(cache: Path | None) -> dict[str, str]:
    """Package managers keep their downloads in the app's cache, not in the build: builds
    of the same app reuse them, and a build's directory holds only the app."""
    corepack = {
        "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
        # the yarn/pnpm release corepack knows, unless package.json's packageManager pins
        # one: no lookup of "latest", whose signature an older corepack cannot verify
        "COREPACK_DEFAULT_TO_LATEST": "0",
    }
    if cache is None:
        return {"PIP_NO_CACHE_DIR": "1", **corepack}
    return {
        **corepack,
        "XDG_CACHE_HOME": str(cache),
        "PIP_CACHE_DIR": str(cache / "pip"),
        "UV_CACHE_DIR": str(cache / "uv"),
        "npm_config_cache": str(cache / "npm"),
        "YARN_CACHE_FOLDER": str(cache / "yarn"),
        "COREPACK_HOME": str(cache / "corepack"),
    }


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


async def run_command(
    command: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    account: Account,
    log: LogLine,
    *,
    timeout: float,
    what: str = "the build step",
    shown: str | None = None,
) -> None:
    """Run one step as the app's account, streaming its output; raise on failure, naming
    the command as `shown` (what the app wrote, not the helpers that run it) if given."""
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
        raise BuildError(f"{what} took longer than {timeout:.0f}s") from None
    if code != 0:
        named = escape(shown if shown is not None else " ".join(command), 200)
        raise BuildError(f"{what} `{named}` exited with status {code}")


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
