"""Making a version's virtualenv: `python -m venv` on the interpreter deployd runs on, then
pip, whose output is relayed line by line. A virtualenv cannot be moved (its scripts name
their interpreter's path), so it is made where it will stay, and removed if it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

INSTALL_TIMEOUT = 1800.0
PASSED_TO_PIP = ("PATH", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "no_proxy")
"""What pip may see of the daemon's environment: never DEPLOYD_* (conninfos, keys)."""


class InstallFailed(RuntimeError):
    pass


def make(target: Path, requirement: str, say: Callable[[str], None]) -> None:
    """Blocking: run it in a thread. `say` gets pip's output, one line at a time."""
    shutil.rmtree(target, ignore_errors=True)
    python = Path(sys.base_prefix) / "bin" / "python3"
    try:
        _run("python -m venv", [str(python), "-m", "venv", str(target)], say, timeout=300)
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
                requirement,
            ],
            say,
            timeout=INSTALL_TIMEOUT,
        )
        if not (target / "bin" / "deployd").exists():
            raise InstallFailed(f"{requirement} installed no `deployd` command")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


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
        argv, capture_output=True, text=True, timeout=60, check=False, env=_pip_env()
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise InstallFailed(f"{Path(argv[0]).name} failed: {said[0]}")
    return done.stdout.strip()


def _run(what: str, argv: list[str], say: Callable[[str], None], timeout: float) -> None:
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=_pip_env(),
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


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_TO_PIP or k.startswith("PIP_")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = os.environ.get("HOME", "/root")
    return env
