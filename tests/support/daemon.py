"""Real daemons and real PostgreSQL clusters for the integration and e2e tests."""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deployctl.client import Client
from deployd.domain import accounts
from deployd.unix import accounts as unix_accounts

from .waiting import wait_for

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_window() -> str:
    """A slot port range of its own for each test daemon, so parallel daemons never race;
    below the kernel's ephemeral ports (32768 up), which outgoing connections take."""
    base = random.randrange(10000, 32400, 200)
    return f"{base}-{base + 199}"


def kill_leftovers(root: Path) -> None:
    """Stop what a daemon under `root` left running on purpose (production semantics: apps
    and nginx outlive the daemon): every process whose working directory is below root;
    then remove the Unix accounts it made for its apps (and its nginx)."""
    for proc in psutil.process_iter(["pid", "cwd"]):
        cwd = proc.info.get("cwd")
        if cwd and (cwd == str(root) or cwd.startswith(str(root) + "/")):
            with contextlib.suppress(psutil.Error):
                proc.kill()
    pid_file = root / "nginx" / "nginx.pid"
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        master = psutil.Process(int(pid_file.read_text().strip()))
        master.terminate()
        master.wait(10)  # before its workers' account goes: it would start new workers
    remove_accounts(root)


def remove_accounts(root: Path) -> None:
    if os.geteuid() != 0:
        return
    prefix = accounts.prefix_for(str(root.absolute()))
    for entry in pwd.getpwall():
        name = entry.pw_name
        if name.startswith(prefix) or name in accounts.own_accounts(prefix):
            with contextlib.suppress(Exception):
                unix_accounts.remove(name)


def world_readable_tempdir(prefix: str) -> Path:
    """pytest's tmp_path is private to root; the postgres account and `nobody` must reach ours."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@dataclass
class RunningDaemon:
    root: Path
    process: subprocess.Popen[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.root / "deployd.sock"

    @property
    def http_port(self) -> int:
        return int(self.env["DEPLOYD_HTTP_PORT"])

    def client(self, timeout: float = 30.0) -> Client:
        return Client(self.socket, timeout=timeout)

    def call(self, method: str, params: dict[str, object] | None = None) -> object:
        with self.client() as client:
            return client.call(method, params)

    def deployctl(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        socket: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`socket`: another way in (a relay that connects as another Unix user)."""
        return subprocess.run(
            [str(BIN / "deployctl"), "--socket", str(socket or self.socket), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=60,
            env={**os.environ, **(env or {})},
        )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_daemon(
    command: Sequence[str], root: Path, env: dict[str, str] | None = None, *, wait: bool = True
) -> RunningDaemon:
    log = root.parent / f"{root.name}.log"
    full_env = {
        **os.environ,
        "DEPLOYD_ROOT": str(root),
        "DEPLOYD_HTTP_PORT": str(free_port()),
        "DEPLOYD_PORT_RANGE": _port_window(),
        **(env or {}),
    }
    full_env.pop("DEPLOYD_SOCKET", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "deployd"), *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            start_new_session=True,
        )
    daemon = RunningDaemon(root=root, process=process, log=log, env=full_env)
    if wait:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"deployd exited early:\n{daemon.output()}")
            return "listening on" in daemon.output()

        try:
            wait_for(ready, timeout=60)
        except BaseException:
            daemon.stop(signal.SIGKILL)
            raise
    return daemon


@contextmanager
def serve(conninfo: str, env: dict[str, str] | None = None) -> Iterator[RunningDaemon]:
    """`deployd serve` against an existing database, re-rooted in a fresh directory."""
    base = world_readable_tempdir("deployd-test-")
    root = base / "root"
    settings = {"DEPLOYD_DATABASE_URL": conninfo, "DEPLOYD_SOCKET_MODE": "0666", **(env or {})}
    daemon = start_daemon(["serve"], root, settings)
    try:
        yield daemon
    finally:
        daemon.stop()
        kill_leftovers(root)
        print(f"--- deployd log ({root}) ---\n{daemon.output()}")  # shown when a test fails
        shutil.rmtree(base, ignore_errors=True)
