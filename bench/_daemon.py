"""Start a throwaway `deployd dev` for a benchmark and stop it afterwards."""

from __future__ import annotations

import itertools
import json
import os
import pwd
import shutil
import signal
import socket as socket_module
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from deployd.domain import accounts as naming
from deployd.unix import accounts

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket_module.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_daemon(
    extra: list[str] | None = None, settings: dict[str, str] | None = None
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    base = Path(tempfile.mkdtemp(prefix="deployd-bench-", dir="/tmp"))
    base.chmod(0o755)
    root = base / "root"
    log = (base / "daemon.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYD_")}
    env.update(settings or {})
    process = subprocess.Popen(
        [str(BIN / "deployd"), "dev", "--root", str(root), *(extra or [])],
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    socket = root / "deployd.sock"
    deadline = time.monotonic() + 60
    while b"listening on" not in (base / "daemon.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit((base / "daemon.log").read_text())
        time.sleep(0.05)
    try:
        yield socket, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        remove_accounts(root)
        shutil.rmtree(base, ignore_errors=True)


def remove_accounts(root: Path) -> None:
    """A dev instance keeps its apps' accounts (and its nginx's) for its next start; this
    one will not start again."""
    if os.geteuid() != 0:
        return
    prefix = naming.prefix_for(str(root))
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix) or entry.pw_name in naming.own_accounts(prefix):
            accounts.remove(entry.pw_name)


def ctl(socket: Path, *args: str) -> str:
    """`deployctl --socket SOCKET ARGS...`, its standard output; fails on a failure."""
    return subprocess.run(
        [str(BIN / "deployctl"), "--socket", str(socket), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@x",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@x",
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=GIT_ENV)


def steps(socket: Path, app: str, job: int) -> dict[str, float]:
    """Seconds spent in each step, from the job's stored events."""
    events = json.loads(
        ctl(socket, "events", "--json", "--limit", "200", "--kind", "deploy", "--app", app)
    )["events"]
    mine = [e for e in events if e["data"].get("job") == job and e["kind"] != "deploy.output"]
    marks = [(e["data"].get("step") or e["kind"], datetime.fromisoformat(e["at"])) for e in mine]
    durations: dict[str, float] = {}
    for (name, at), (_, following) in itertools.pairwise(marks):
        durations[name] = durations.get(name, 0.0) + (following - at).total_seconds()
    return durations
