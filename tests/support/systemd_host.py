"""A host with systemd as PID 1, in a container (this machine's PID 1 is not systemd): a
Debian bookworm made by debootstrap and imported into the Docker Engine once, run with the
host's cgroups and network, with the checkout mounted read-only at its own path (its
venv's interpreter is Debian's python3, which the image has too)."""

from __future__ import annotations

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
    "--network",
    "host",
    # what systemd on a real host has, to give units mount namespaces of their own
    # (ProtectSystem=, BindPaths=, PrivateTmp=); --privileged is refused here
    "--cap-add",
    "SYS_ADMIN",
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


class SystemdHost:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(
        self, *argv: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", "-i", self.name, *argv],
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=120,
        )

    def write(self, path: str, content: str, mode: str = "644") -> None:
        self.run(
            "sh",
            "-c",
            f'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod {mode} "$1"',
            "-",
            path,
            input=content,
        )


@contextmanager
def systemd_host(checkout: Path) -> Iterator[SystemdHost]:
    """The host, with the checkout and the running interpreter's environment (a venv may
    live elsewhere) at their own paths, read-only. Its /tmp is the image's own directory:
    a tmpfs there would hide a checkout under /tmp."""
    name = f"deployd-systemd-{int(time.time() * 1000) % 10**8}"
    shared = {checkout.resolve(), Path(sys.prefix).resolve()}
    mounts = [
        arg
        for path in sorted(shared)
        if not any(other in path.parents for other in shared)
        for arg in ("-v", f"{path}:{path}:ro")
    ]
    _docker("run", "-d", "--name", name, *CONTAINER, *mounts, IMAGE, "/sbin/init")
    host = SystemdHost(name)
    try:
        deadline = time.monotonic() + 60
        while True:
            state = host.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        yield host
    finally:
        _docker("rm", "-f", name, check=False)
