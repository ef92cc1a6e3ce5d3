"""A host with systemd as PID 1, in a container (this machine's PID 1 is not systemd): a
Debian bookworm made by debootstrap and imported into the Docker Engine once, run with the
host's cgroups, with the checkout mounted read-only at its own path (its venv's
interpreter is Debian's python3, which the image has too).

Two kinds: on the host's network (a unit under test listens on a port of this machine), or
with a network of its own (`own_network=True`: a whole server, which takes ports 80, 443 and
5432 inside its own namespace, so several run at once beside anything on this machine;
Debian's mirror and PyPI are reached through Docker's bridge, and test requests go from
inside the host to its own 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

IMAGE = "deployd-test/systemd-host:bookworm"
MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = (
    "debootstrap",
    "--variant=minbase",
    "--include=systemd,systemd-sysv,dbus,python3",
    "bookworm",
)
CONTAINER = (
    "--cgroupns=host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    # systemd powers off on SIGRTMIN+3 (on SIGTERM it would re-execute itself): `docker
    # stop` and `docker restart` then shut the host down cleanly, as a reboot does
    "--stop-signal",
    "SIGRTMIN+3",
    # what systemd on a real host has, to give units mount namespaces of their own
    # (ProtectSystem=, BindPaths=, PrivateTmp=); --privileged is refused here
    "--cap-add",
    "SYS_ADMIN",
    # and what root has on a host to see other users' processes' sockets (/proc/PID/fd):
    # deployd checks that a slot's port is held by the slot's own processes
    "--cap-add",
    "SYS_PTRACE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
)


def _docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def ensure_image() -> str | None:
    """Build the image if it is missing; returns why it cannot be had, or None."""
    if shutil.which("docker") is None or _docker("info", check=False).returncode != 0:
        return "no Docker Engine"
    if _docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return None
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed"
    with tempfile.TemporaryDirectory(prefix="deployd-sdroot-") as root:
        subprocess.run(
            [*DEBOOTSTRAP, root, MIRROR],
            capture_output=True,
            check=True,
            timeout=900,
        )
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-", IMAGE], stdin=tar.stdout, check=True, capture_output=True
        )
        tar.wait()
    return None


HOST_CA = "/opt/host-ca/ca-certificates.crt"
"""Where this machine's CA bundle is in an own-network host: a path of its own, as the
ca-certificates package writes /etc/ssl/certs. Behind a TLS-intercepting proxy (CI here)
it holds the proxy's CA, without which pip cannot reach PyPI."""
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class SystemdHost:
    def __init__(self, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = env or {}
        """Passed to every command run in the host (package indexes and their CA)."""

    def run(
        self,
        *argv: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        env = [arg for key, value in sorted(self.env.items()) for arg in ("-e", f"{key}={value}")]
        return subprocess.run(
            ["docker", "exec", "-i", *env, self.name, *argv],
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=timeout,
        )

    def wait_until_up(self, timeout: float = 90) -> str:
        """systemd's state once it settles (`running`, or `degraded` when a unit failed)."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        return state

    def reboot(self) -> str:
        """Stop the whole host (systemd shuts down, /run and /tmp are gone) and boot it
        again, as a reboot of a server does; returns systemd's state after it."""
        _docker("restart", "--time", "60", self.name, timeout=180)
        return self.wait_until_up()

    def write(self, path: str, content: str, mode: str = "644") -> None:
        self.run(
            "sh",
            "-c",
            f'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod {mode} "$1"',
            "-",
            path,
            input=content,
        )


def _package_env() -> tuple[list[str], dict[str, str]]:
    """Mounts and environment that let pip in the host reach what it reaches here: this
    machine's CA bundle (at a path of its own), its index and its local wheels."""
    mounts: list[str] = []
    env: dict[str, str] = {}
    if CA_BUNDLE.is_file():
        mounts += ["-v", f"{CA_BUNDLE.resolve()}:{HOST_CA}:ro"]
        env["PIP_CERT"] = HOST_CA
    if os.environ.get("PIP_INDEX_URL"):
        env["PIP_INDEX_URL"] = os.environ["PIP_INDEX_URL"]
    links = os.environ.get("PIP_FIND_LINKS", "")
    if links and Path(links).is_dir():
        mounts += ["-v", f"{Path(links).resolve()}:{links}:ro"]
        env["PIP_FIND_LINKS"] = links
    return mounts, env


@contextmanager
def systemd_host(checkout: Path, *, own_network: bool = False) -> Iterator[SystemdHost]:
    """The host, with the checkout at its own path, read-only. On the host's network, the
    running interpreter's environment (a venv may live elsewhere) is mounted too, so units
    can run deployd from it; with `own_network`, the host is a server of its own (see the
    module's docstring) that installs what it runs. Its /tmp is the image's own
    directory: a tmpfs there would hide a checkout under /tmp."""
    name = f"deployd-systemd-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    shared = (
        {checkout.resolve()} if own_network else {checkout.resolve(), Path(sys.prefix).resolve()}
    )
    mounts = [
        arg
        for path in sorted(shared)
        if not any(other in path.parents for other in shared)
        for arg in ("-v", f"{path}:{path}:ro")
    ]
    env: dict[str, str] = {}
    if own_network:
        extra, env = _package_env()
        mounts += [*extra, "--hostname", "deployd-test"]
    else:
        mounts += ["--network", "host"]
    _docker("run", "-d", "--name", name, *CONTAINER, *mounts, IMAGE, "/sbin/init")
    host = SystemdHost(name, env)
    try:
        host.wait_until_up(60)
        yield host
    finally:
        _docker("rm", "-f", name, check=False)
