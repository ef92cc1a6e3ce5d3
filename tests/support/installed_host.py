"""A server where install.sh has run: a systemd test host with a network of its own (see
systemd_host.py), the checkout mounted read-only, `sudo ./install.sh` done as an operator
does it. The tests of the install and of self-update build on it; `deployctl` and HTTP
requests run inside the host (requests go to its own 127.0.0.1, through its nginx)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.systemd_host import SystemdHost, ensure_image, systemd_host

CHECKOUT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900.0
"""A first install downloads the distribution's packages and deployd's from PyPI."""

# What a second install must leave as it was: deployd's config and keys, its virtualenvs and
# commands, its units and the slots' units, nginx's files and logrotate's, every file's
# content, mode, owner and time. Bytecode the running daemon compiles is not the install's.
WATCHED = (
    "/etc/deployd",
    "/opt/deployd",
    "/usr/local/bin",
    "/etc/systemd/system",
    "/etc/nginx",
    "/etc/logrotate.d/deployd",
    "/etc/docker",
)
SNAPSHOT = r"""
import hashlib, os, sys
for top in sys.argv[1:]:
    if not os.path.lexists(top):
        continue
    if os.path.isdir(top) and not os.path.islink(top):
        walk = os.walk(top)
    else:
        walk = [(os.path.dirname(top), [], [os.path.basename(top)])]
    for folder, dirs, files in walk:
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            st = os.lstat(path)
            what = os.readlink(path) if os.path.islink(path) else ""
            if not what and os.path.isfile(path):
                with open(path, "rb") as fh:
                    what = hashlib.sha256(fh.read()).hexdigest()
            print(path, oct(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, what)
"""
HTTP = r"""
import http.client, json, sys, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1" + sys.argv[2], headers={"Host": sys.argv[1]})
try:
    with urllib.request.urlopen(request, timeout=10) as reply:
        status, headers, body = reply.status, dict(reply.headers), reply.read()
except urllib.error.HTTPError as exc:
    status, headers, body = exc.code, dict(exc.headers), exc.read()
except http.client.RemoteDisconnected:  # nginx's 444: closed without an answer
    status, headers, body = 444, {}, b""
print(json.dumps({"status": status, "headers": headers, "body": body.decode(errors="replace")}))
"""


def require_host() -> None:
    """Skip the caller when no installed host can be had here; a failure instead under
    DEPLOYD_TEST_REQUIRE_ALL (CI)."""
    import pytest

    why = unavailable()
    if why is None:
        return
    if os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"):
        pytest.fail(f"{why}, and DEPLOYD_TEST_REQUIRE_ALL is set")
    pytest.skip(why)


def unavailable() -> str | None:
    """Why no installed host can be had here (None: it can)."""
    if Path("/tmp") in CHECKOUT.parents:
        return f"the checkout {CHECKOUT} is under /tmp, which the test host's own /tmp hides"
    why = ensure_image()
    return None if why is None else f"no systemd test host: {why}"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True, slots=True)
class Timed:
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


class InstalledHost:
    def __init__(self, host: SystemdHost) -> None:
        self.host = host
        self.install_sh = str(CHECKOUT / "install.sh")
        self.first_install: Timed | None = None

    def run(
        self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self.host.run(*argv, check=check, input=input, timeout=timeout)

    def install(self, *args: str, check: bool = True) -> Timed:
        """`install.sh ARGS` as root, timed; its output as the terminal shows it."""
        started = time.monotonic()
        result = self.host.run(self.install_sh, *args, check=False, timeout=INSTALL_TIMEOUT)
        timed = Timed(result, time.monotonic() - started)
        if check and result.returncode != 0:
            raise AssertionError(f"install.sh {' '.join(args)} failed:\n{timed.output[-4000:]}")
        return timed

    def deployctl(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = self.host.run("deployctl", *args, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"deployctl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def http(self, host: str, path: str = "/") -> Reply:
        """GET through the host's nginx on its own 127.0.0.1:80, as `host`."""
        out = self.run("python3", "-c", HTTP, host, path).stdout
        data = json.loads(out)
        return Reply(int(data["status"]), data["headers"], data["body"])

    def wait_for(self, host: str, path: str = "/", timeout: float = 90) -> Reply:
        """The first 200 answer within `timeout`, else the last answer (or an error)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.http(host, path)
            except (subprocess.CalledProcessError, ValueError) as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{host}{path} never answered: {exc}") from exc
            else:
                if reply.status == 200 or time.monotonic() > deadline:
                    return reply
            time.sleep(0.5)

    def snapshot(self) -> list[str]:
        """A line per file deployd's install owns or writes: path, mode, owner, mtime, hash."""
        return self.run("python3", "-c", SNAPSHOT, *WATCHED).stdout.splitlines()

    def main_pid(self, unit: str) -> int:
        out = self.run("systemctl", "show", "--property=MainPID", "--value", unit).stdout
        return int(out.strip() or 0)

    def unit_property(self, unit: str, name: str) -> str:
        out = self.run("systemctl", "show", f"--property={name}", "--value", unit).stdout
        return out.strip()

    def copy_app(self, source: Path, target: str) -> None:
        """An app's directory from the checkout to `target` in the host, root's, as an
        operator's own files on the server are."""
        self.run("cp", "-r", str(source), target)


@contextmanager
def installed_host(*install_args: str) -> Iterator[InstalledHost]:
    """A fresh host after `install.sh INSTALL_ARGS`; the first install's output and time are
    in `first_install`."""
    with systemd_host(CHECKOUT, own_network=True) as host:
        installed = InstalledHost(host)
        installed.first_install = installed.install(*install_args)
        yield installed
