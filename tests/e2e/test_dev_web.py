"""`deployd dev --web-port N`: `deployd web` beside the dev daemon, on its socket, for as
long as the daemon runs."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from deployd.store.cluster import PrivateCluster
from tests.support.daemon import (
    RunningDaemon,
    free_port,
    kill_leftovers,
    start_daemon,
    world_readable_tempdir,
)
from tests.support.waiting import wait_for


@pytest.fixture
def root() -> Iterator[Path]:
    base = world_readable_tempdir("deployd-devweb-")
    yield base / "root"
    PrivateCluster(base / "root" / "pg").stop()  # a dev killed hard leaves it running,
    kill_leftovers(base / "root")  # and its nginx
    shutil.rmtree(base, ignore_errors=True)


def start_dev(root: Path, web_port: int) -> RunningDaemon:
    args = ["dev", "--root", str(root), "--no-example", "--web-port", str(web_port)]
    return start_daemon(args, root)


def web_child(daemon: RunningDaemon) -> psutil.Process:
    children = psutil.Process(daemon.process.pid).children()
    return next(c for c in children if "web" in c.cmdline())


def test_web_port_runs_deployd_web_on_the_dev_socket_until_dev_stops(root: Path) -> None:
    port = free_port()
    dev = start_dev(root, port)
    try:
        child = web_child(dev)
        assert child.cmdline()[-2:] == ["--socket", str(dev.socket)]
        health = wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").json())
        assert health["web"] == "ok" and health["daemon_answers"] is True  # the real daemon
        assert f"deployd web: http://127.0.0.1:{port}/" in dev.output()
        for body in (b"not json", b"x" * 2 * 1024 * 1024):  # past the 1 MiB of other callers
            reply = httpx.post(
                f"http://127.0.0.1:{port}/hooks/github",
                content=body,
                headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
            assert reply.status_code == 401, reply.text  # the real daemon's verdict: no
            assert reply.json()["verdict"] == "rejected"  # connected app's secret signs it
    finally:
        assert dev.stop() == 0
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)

    again = start_dev(root, port)  # a dev killed hard takes its web process along
    child = web_child(again)
    again.stop(signal.SIGKILL)
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
