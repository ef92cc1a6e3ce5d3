"""A port must be the slot's own before it starts, and the slot's own listener must be the
only one before the slot passes its health check (issue 11, finding 2): otherwise nginx
would be switched to a stranger's responses."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon
from tests.support.repos import Repo
from tests.support.waiting import wait_for

STRANGER = """
import http.server, socket, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"release": "stranger"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.serve_forever()
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def show(daemon: RunningDaemon, app: str) -> Any:
    return json.loads(ok(daemon.deployctl("apps", "show", app, "--json")).stdout)


def idle_port(info: Any) -> int:
    return int(next(s["port"] for s in info["slots"] if s["name"] != info["live_slot"]))


@pytest.fixture
def stranger() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def start_stranger(port: int, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", STRANGER, str(port)])
    started.append(process)

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout=10)
    return process


def test_a_stranger_on_the_idle_port_fails_the_deploy_by_name(
    platform: RunningDaemon, workdir: Path, stranger: list[subprocess.Popen[bytes]]
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "squatted", "--git", repo.url))
    ok(platform.deployctl("deploy", "squatted"))
    live = json.loads(fetch(platform, "squatted")[2])["release"]
    squatter = start_stranger(idle_port(show(platform, "squatted")), stranger)
    repo.write("VERSION", "2\n").commit("two")
    failed = platform.deployctl("deploy", "squatted")
    assert failed.returncode == 1
    assert f"is taken by pid {squatter.pid}" in failed.stderr, failed.stderr
    assert json.loads(fetch(platform, "squatted")[2])["release"] == live


def test_a_stranger_answering_for_a_silent_release_is_never_switched_to(
    platform: RunningDaemon, workdir: Path, stranger: list[subprocess.Popen[bytes]]
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "silent", "--git", repo.url))
    ok(platform.deployctl("deploy", "silent"))
    live = json.loads(fetch(platform, "silent")[2])["release"]
    # the next release never listens; a stranger takes its port once it has started
    repo.write("Procfile", "web: sleep 600\n")
    repo.write("deployd.toml", "[health]\ninterval = 0.2\ntimeout = 20\npasses = 2\n")
    repo.commit("a release that does not listen")
    port = idle_port(show(platform, "silent"))
    job = json.loads(ok(platform.deployctl("deploy", "silent", "--no-wait", "--json")).stdout)

    def starting() -> bool:
        info = show(platform, "silent")
        return any(s["state"] == "starting" and s["port"] == port for s in info["slots"])

    wait_for(starting, timeout=30)
    squatter = start_stranger(port, stranger)
    wait_for(lambda: show(platform, "silent")["active_job"] is None, timeout=60)
    events = ok(platform.deployctl("events", "--app", "silent", "--json", "--limit", "50")).stdout
    failure = next(
        e
        for e in json.loads(events)["events"]
        if e["kind"] == "deploy.failed" and e["data"]["job"] == job["id"]
    )
    assert f"pid {squatter.pid}" in failure["message"], failure
    assert "listens there too" in failure["message"]
    assert json.loads(fetch(platform, "silent")[2])["release"] == live
