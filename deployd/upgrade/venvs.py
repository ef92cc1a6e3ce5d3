"""Making a version's virtualenv: `python -m venv` on the interpreter deployd runs on, then
pip, whose output is relayed line by line. A virtualenv cannot be moved (its scripts name
their interpreter's path), so it is made where it will stay, and removed if it fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path

from deployd.domain.text import last_line

from .layout import INSTALLED
from .sources import Offer, tool_env

INSTALL_TIMEOUT = 1800.0


class InstallFailed(RuntimeError):
    pass


def make(target: Path, offer: Offer, say: Callable[[str], None]) -> None:
    """Blocking: run it in a thread. `say` gets pip's output, one line at a time. A tag of
    a repository is installed from a shallow clone with its dependencies at the versions
    of its uv.lock (as install.sh does from a checkout: what was tested is what runs); a
    wheel with the ranges it declares."""
    shutil.rmtree(target, ignore_errors=True)
    python = Path(sys.base_prefix) / "bin" / "python3"
    try:
        _run("python -m venv", [str(python), "-m", "venv", str(target)], say, timeout=300)
        with tempfile.TemporaryDirectory(prefix="deployd-update-") as scratch:
            what, pinned = [offer.url], []
            if offer.tag is not None:
                source = Path(scratch) / "source"
                _clone(offer, source, say)
                lock = source / "uv.lock"
                if lock.is_file():
                    constraints = Path(scratch) / "constraints.txt"
                    constraints.write_text(lock_constraints(lock))
                    pinned = ["--constraint", str(constraints)]
                    say(f"dependencies at the versions of {offer.tag}'s uv.lock")
                what = [str(source)]
            _pip(target, [*pinned, *what], say)
        if not (target / "bin" / "deployd").exists():
            raise InstallFailed(f"{offer.url} installed no `deployd` command")
        (target / INSTALLED).write_text(version_of(target) + "\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def lock_constraints(lock: Path) -> str:
    """`name==version` for every package of a uv.lock that comes from an index."""
    with lock.open("rb") as fh:
        packages = tomllib.load(fh).get("package", [])
    return "".join(
        f"{p['name']}=={p['version']}\n"
        for p in packages
        if isinstance(p, dict) and p.get("source", {}).get("registry")
    )


def _clone(offer: Offer, into: Path, say: Callable[[str], None]) -> None:
    assert offer.tag is not None
    say(f"fetching {offer.tag} of {offer.url}")
    _run(
        "git clone",
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            offer.tag,
            "--",
            offer.url,
            str(into),
        ],
        say,
        timeout=600,
    )


def _pip(target: Path, args: list[str], say: Callable[[str], None]) -> None:
    _run(
        "pip install",
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-input",
            "--progress-bar",
            "off",
            "--disable-pip-version-check",
            *args,
        ],
        say,
        timeout=INSTALL_TIMEOUT,
    )


def version_of(venv: Path) -> str:
    """What the installed deployd says it is (the source's tag could lie)."""
    out = _output([str(venv / "bin" / "deployd"), "--version"])
    return out.split()[-1] if out else ""


def migrations_of(venv: Path) -> Path:
    out = _output(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from deployd.config import resource_dir; print(resource_dir('migrations'))",
        ]
    )
    return Path(out)


def _output(argv: list[str]) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, env=tool_env()
    )
    if done.returncode != 0:
        raise InstallFailed(f"{Path(argv[0]).name} failed: {last_line(done.stderr)}")
    return done.stdout.strip()


def _run(what: str, argv: list[str], say: Callable[[str], None], timeout: float) -> None:
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=tool_env(),
        cwd="/",
    )
    assert process.stdout is not None
    last = ""
    expired = threading.Event()

    def stop() -> None:  # a pip that hangs is stopped
        expired.set()
        process.kill()

    deadline = threading.Timer(timeout, stop)
    deadline.start()
    try:
        for line in process.stdout:
            if line.strip():
                last = line.rstrip()[:500]
                say(last)
        status = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        deadline.cancel()
    if expired.is_set():
        raise InstallFailed(f"{what} took more than {timeout:.0f} s")
    if status != 0:
        raise InstallFailed(f"{what} exited with {status}: {last}")
