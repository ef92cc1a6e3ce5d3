"""The edges of deploying: ports, a broken nginx configuration, following logs."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployd.domain.logline import parse_line
from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import BIN, RunningDaemon, serve
from tests.support.repos import Repo
from tests.support.waiting import wait_for


@pytest.fixture
def narrow(pg_cluster: PrivateCluster) -> Iterator[tuple[RunningDaemon, socket.socket]]:
    """A daemon with four slot ports, the first of them taken by another program."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", base))
    squatter.listen()
    pg_cluster.ensure_database("narrow")
    try:
        with serve(
            pg_cluster.conninfo("narrow"), {"DEPLOYD_PORT_RANGE": f"{base}-{base + 3}"}
        ) as daemon:
            yield daemon, squatter
    finally:
        squatter.close()
        pg_cluster.drop_database("narrow")


def test_ports_in_use_are_skipped_and_an_exhausted_range_is_a_clear_error(
    narrow: tuple[RunningDaemon, socket.socket], workdir: Path
) -> None:
    daemon, squatter = narrow
    taken = squatter.getsockname()[1]
    created = daemon.deployctl("apps", "create", "first", "--path", str(workdir), "--json")
    assert created.returncode == 0, created.stderr
    ports = [s["port"] for s in json.loads(created.stdout)["slots"]]
    assert ports == [taken + 1, taken + 2]
    second = daemon.deployctl("apps", "create", "second", "--path", str(workdir))
    assert second.returncode == 1
    assert f"no free ports left in {taken}-{taken + 3}" in second.stderr
    names = [
        a["name"] for a in json.loads(daemon.deployctl("apps", "list", "--json").stdout)["apps"]
    ]
    assert names == ["first"]


def test_a_configuration_nginx_rejects_changes_nothing_that_serves(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    assert platform.deployctl("apps", "create", "guarded", "--git", repo.url).returncode == 0
    assert platform.deployctl("deploy", "guarded").returncode == 0
    _, headers, _ = fetch(platform, "guarded")
    before = headers["x-deployd-release"]
    sites = platform.root / "nginx" / "sites"
    broken = sites / "zz-broken.conf"
    broken.write_text("this is not nginx configuration;\n")  # someone broke the config dir
    try:
        assert platform.deployctl("apps", "create", "newcomer", "--git", repo.url).returncode == 0
        result = platform.deployctl("deploy", "newcomer")
        assert result.returncode == 1
        assert "switch failed, the previous release keeps serving" in result.stderr
        assert "nginx rejected the configuration" in result.stderr
        assert not (sites / "deployd-newcomer.conf").exists()
        states = {
            s["name"]: s["state"]
            for s in json.loads(platform.deployctl("apps", "show", "newcomer", "--json").stdout)[
                "slots"
            ]
        }
        assert states == {"blue": "stopped", "green": "empty"}
        # a redeploy of a live app never touches nginx's configuration: it still works
        repo.write("VERSION", "2\n").commit("second")
        assert platform.deployctl("deploy", "guarded").returncode == 0
    finally:
        broken.unlink()
    _, headers, _ = fetch(platform, "guarded")
    live = json.loads(platform.deployctl("apps", "show", "guarded", "--json").stdout)
    assert headers["x-deployd-release"] == str(live["live_release"]) != before
    assert platform.deployctl("deploy", "newcomer").returncode == 0  # and it recovers
    assert fetch(platform, "newcomer")[0] == 200


def test_logs_follow_streams_the_apps_output(platform: RunningDaemon, workdir: Path) -> None:
    repo = Repo(workdir)
    assert platform.deployctl("apps", "create", "chatty", "--git", repo.url).returncode == 0
    assert platform.deployctl("deploy", "chatty").returncode == 0
    follower = subprocess.Popen(
        [
            str(BIN / "deployctl"),
            "--socket",
            str(platform.socket),
            "logs",
            "chatty",
            "-f",
            "-n",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        first = follower.stdout.readline()
        assert parse_line(first.rstrip("\n")) is not None, first
        wait_for(lambda: fetch(platform, "chatty", "/?marker=1")[0] == 404)
        line = follower.stdout.readline()
        while "marker=1" not in line:
            line = follower.stdout.readline()
        parsed = parse_line(line.rstrip("\n"))
        assert parsed is not None and parsed.source == "web.1" and "404" in parsed.text
    finally:
        follower.terminate()
        follower.wait(10)
