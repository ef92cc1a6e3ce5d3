"""A slot's unit, as deployd writes it, run by a real systemd (a test host in a container:
this machine's PID 1 is not systemd): the app runs as its own account from the release at
/app, with its config, its output framed into the app's log, and cannot read its env
file; `systemctl stop` ends it."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployd.domain.envfile import render
from deployd.runtime.base import LaunchSpec
from deployd.runtime.process import ProcessRuntime
from deployd.runtime.systemd import SystemdRuntime
from tests.support.systemd_host import SystemdHost, ensure_image, systemd_host

ROOT = Path(__file__).resolve().parents[2]
APP = """
import http.server, json, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            open(os.environ["ENV_FILE"]).read()
            env_file = "readable"
        except OSError as exc:
            env_file = type(exc).__name__
        with open("/app/written-by-the-app", "w") as fh:
            fh.write("yes")
        body = json.dumps({
            "cwd": os.getcwd(), "home": os.environ.get("HOME"), "uid": os.getuid(),
            "greeting": os.environ.get("GREETING"), "env_file": env_file,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(format % args, flush=True)

print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def host() -> Iterator[SystemdHost]:
    under_tmp = [p for p in (ROOT, Path(sys.prefix)) if Path("/tmp") in p.resolve().parents]
    if under_tmp:  # the unit's PrivateTmp= would hide it from the launcher
        pytest.skip(f"the systemd test host cannot run deployd from {under_tmp[0]} (under /tmp)")
    why = ensure_image()
    if why is not None:
        pytest.skip(f"no systemd test host: {why}")
    with systemd_host(ROOT) as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
        return json.loads(reply.read()) if path == "/" else reply.status


def test_a_slot_unit_runs_the_app_as_its_account_from_the_release_at_app(
    host: SystemdHost, tmp_path: Path
) -> None:
    host.run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "shopapp")
    uid, gid = (int(host.run("id", flag, "shopapp").stdout) for flag in ("-u", "-g"))
    build = "/var/lib/deployd/apps/shop/builds/abc123"
    env_file = "/var/lib/deployd/apps/shop/green.web.1.env"
    log_file = "/var/log/deployd/apps/shop/app.log"
    port = free_port()
    host.write(f"{build}/app.py", APP)
    host.run("chown", "-R", "shopapp:shopapp", build)
    host.run("mkdir", "-p", "-m", "0700", "/var/log/deployd/apps/shop")
    platform = {"PORT": str(port), "HOME": "/app", "DYNO": "web.1", "ENV_FILE": env_file}
    host.write(env_file, render(platform, {"GREETING": "hej"}, "test"), mode="600")
    spec = LaunchSpec(
        app="shop",
        slot="green",
        release=3,
        port=port,
        command="python3 app.py",
        workdir=Path(build),
        env_file=Path(env_file),
        log_file=Path(log_file),
        pid_file=Path("/var/lib/deployd/apps/shop/green.web.1.pid"),
        process="web.1",
        user=(uid, gid),
        app_mount=True,
        quiet_path="/health",
    )
    runtime = SystemdRuntime(
        ProcessRuntime(), templates=ROOT / "templates", unit_dir=tmp_path, python=sys.executable
    )
    unit = runtime.unit_name("shop", "green", "web.1")
    host.write(f"/etc/systemd/system/{unit}", runtime.render(spec))
    host.run("systemctl", "daemon-reload")
    started = host.run("systemctl", "start", unit, check=False)
    journal = host.run("journalctl", "--no-pager", "-n", "30", "-u", unit, check=False).stdout
    assert started.returncode == 0, started.stderr + journal

    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        try:
            seen = get(port, "/")
        except OSError:
            time.sleep(0.2)
    status = host.run("systemctl", "status", unit, check=False).stdout
    assert seen, status
    assert seen == {
        "cwd": "/app",
        "home": "/app",
        "uid": uid,
        "greeting": "hej",
        "env_file": "PermissionError",
    }, status
    assert host.run("cat", f"{build}/written-by-the-app").stdout == "yes"  # /app is the build
    assert get(port, "/health") == 200
    time.sleep(0.5)
    logged = host.run("cat", log_file).stdout
    assert "web.1[v3]: listening" in logged and '"GET / HTTP/1.1" 200' in logged, logged
    assert "/health" not in logged, logged  # the probe's own line is left out

    host.run("systemctl", "stop", unit)
    assert host.run("systemctl", "is-active", unit, check=False).stdout.strip() == "inactive"
    with pytest.raises(OSError):
        get(port, "/")
