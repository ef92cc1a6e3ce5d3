"""An installed server that can update itself: a systemd test host after install.sh,
with versions of deployd to update to in a git repository made from this checkout (one tag
each: tests/support/versions.py) as its `update_source`, two apps deployed (one on each
runtime that outlives the daemon) and a client loop asking both, all the time, through
nginx. The self-update tests and bench/self_update.py use it."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployd import __version__
from tests.support.installed_host import CHECKOUT, InstalledHost, installed_host
from tests.support.versions import bumped, repository

GOOD = bumped(__version__)
BROKEN = bumped(GOOD)
CONTRACTING = bumped(BROKEN)
APPS = {"one": "process", "two": "systemd"}
"""An app on each runtime that outlives the daemon in its own way: processes in sessions of
their own (KillMode=process), units of their own."""
LOOP = r"""
import json, os, sys, time, urllib.request
hosts, out, stop = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
ok = failed = 0
errors = []
while not os.path.exists(stop):
    for host in hosts:
        request = urllib.request.Request("http://127.0.0.1/", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                reply.read()
                ok += reply.status == 200
                failed += reply.status != 200
        except Exception as exc:
            failed += 1
            errors.append(f"{time.time():.1f} {host}: {exc!r}"[:300])
    time.sleep(0.02)
with open(out + ".tmp", "w") as fh:
    json.dump({"ok": ok, "failed": failed, "errors": errors[:20]}, fh)
os.rename(out + ".tmp", out)
"""


def versions(base: Path) -> dict[str, dict[str, str]]:
    main = (CHECKOUT / "deployd" / "__main__.py").read_text()
    serve = '    _run(load_settings(), "serve")'
    assert serve in main
    return {
        GOOD: {"migrations/0999_update_probe.sql": "CREATE TABLE update_probe (x int);\n"},
        BROKEN: {
            "deployd/__main__.py": main.replace(serve, '    raise SystemExit("broken on purpose")')
        },
        CONTRACTING: {
            "migrations/0998_contract_probe.sql": "ALTER TABLE apps DROP COLUMN notes;\n"
        },
    }


@contextmanager
def updatable_server() -> Iterator[InstalledHost]:
    with tempfile.TemporaryDirectory(prefix="deployd-versions-") as base, installed_host() as host:
        bare = repository(Path(base), versions(CHECKOUT))
        subprocess.run(
            ["docker", "cp", str(bare), f"{host.host.name}:/srv/deployd.git"], check=True
        )
        pip_like_here(host)
        host.run(
            "sh",
            "-c",
            "echo 'update_source = \"file:///srv/deployd.git\"' >> /etc/deployd/deployd.toml",
        )
        host.run("systemctl", "restart", "deployd")
        wait_for_daemon(host, __version__)
        for app, runtime in APPS.items():
            host.copy_app(CHECKOUT / "examples" / "hello", f"/srv/{app}")
            host.deployctl("apps", "create", app, "--path", f"/srv/{app}", "--runtime", runtime)
            host.deployctl("deploy", app, timeout=600)
            assert host.wait_for(f"{app}.localhost").status == 200
        host.run("sh", "-c", "cat > /root/loop.py", input=LOOP)
        hosts = ",".join(f"{app}.localhost" for app in APPS)
        subprocess.run(
            [
                "docker",
                "exec",
                "-d",
                host.host.name,
                "python3",
                "/root/loop.py",
                hosts,
                "/root/loop.json",
                "/root/loop.stop",
            ],
            check=True,
        )
        yield host


def pip_like_here(host: InstalledHost) -> None:
    """The daemon runs pip under systemd, without the test's environment: the same index,
    CA and wheels go into pip's own config file."""
    lines = ["[global]"]
    names = {"PIP_CERT": "cert", "PIP_INDEX_URL": "index-url", "PIP_FIND_LINKS": "find-links"}
    lines += [f"{names[k]} = {v}" for k, v in host.host.env.items() if k in names]
    host.run("sh", "-c", "cat > /etc/pip.conf", input="\n".join(lines) + "\n")


def status(host: InstalledHost) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(host.deployctl("status", "--json").stdout)
    return found


def wait_for_daemon(host: InstalledHost, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answered = host.deployctl("status", "--json", check=False)
        if answered.returncode == 0 and json.loads(answered.stdout)["version"] == version:
            return
        time.sleep(0.5)
    raise AssertionError(f"deployd {version} did not answer within {timeout} s")


def self_update(host: InstalledHost, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = host.deployctl("self-update", *args, check=False, timeout=900)
    return done, time.monotonic() - started


@dataclass(frozen=True, slots=True)
class Requests:
    ok: int
    failed: int
    errors: list[str]


def stop_loop(host: InstalledHost) -> Requests:
    """Stop the client loop and read what it counted."""
    host.run("touch", "/root/loop.stop")
    deadline = time.monotonic() + 30
    while host.run("test", "-e", "/root/loop.json", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise AssertionError("the client loop did not stop")
        time.sleep(0.5)
    counted = json.loads(host.run("cat", "/root/loop.json").stdout)
    return Requests(counted["ok"], counted["failed"], counted["errors"])
