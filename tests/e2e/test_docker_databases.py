"""A Docker app on the Engine's bridge (the default network) reaches the database deployd
links to it (issue 12): inside a bridge container loopback is the container itself, so its
DATABASE_URL names `host.docker.internal` and `deployd dev`'s apps' cluster also listens on
the bridge's gateway, asking every role for its password there too.

The traffic stays on this host: the bridge is the Engine's own virtual network."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import (
    RunningDaemon,
    kill_leftovers,
    start_daemon,
    world_readable_tempdir,
)
from tests.support.docker import engine, ensure_psql_image

DOCKDB = Path(__file__).resolve().parents[1] / "support" / "apps" / "dockdb"

pytestmark = pytest.mark.skipif(
    engine() is None and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="no Docker Engine running",
)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    found = engine()
    assert found is not None
    ensure_psql_image(found)
    return found


@pytest.fixture(scope="module")
def dev(pg_cluster: PrivateCluster, client: docker.DockerClient) -> Iterator[RunningDaemon]:
    """`deployd dev` with its own apps' cluster (made by the first `db` command) and Docker
    apps on the bridge (the default)."""
    name = "e2e_docker_databases"
    pg_cluster.ensure_database(name)
    base = world_readable_tempdir("deployd-dockdb-")
    root = base / "root"
    env = {"DEPLOYD_DATABASE_URL": pg_cluster.conninfo(name), "DEPLOYD_SOCKET_MODE": "0666"}
    daemon = start_daemon(["dev", "--root", str(root), "--no-example"], root, env)
    try:
        yield daemon
    finally:
        daemon.stop()
        kill_leftovers(root)
        print(f"--- deployd log ({root}) ---\n{daemon.output()}")
        shutil.rmtree(base, ignore_errors=True)
        pg_cluster.drop_database(name)


def body(daemon: RunningDaemon, app: str, path: str) -> str:
    status, _, text = fetch(daemon, app, path)
    assert status == 200, text
    return text


def test_a_bridge_container_keeps_its_rows_in_its_linked_database(
    dev: RunningDaemon, client: docker.DockerClient
) -> None:
    source = world_readable_tempdir("deployd-dockdb-src-") / "app"
    shutil.copytree(DOCKDB, source)
    ok(dev.deployctl("apps", "create", "dockdb", "--path", str(source)))
    ok(dev.deployctl("deploy", "dockdb"))
    (running,) = client.containers.list(filters={"label": "deployd.app=dockdb"})
    assert list(running.attrs["NetworkSettings"]["Networks"]) == ["bridge"]

    ok(dev.deployctl("db", "create", "stock", "--app", "dockdb"))
    for item in ("apples", "pears"):
        assert "INSERT 0 1" in body(dev, "dockdb", f"/cgi-bin/add?{item}")
    assert body(dev, "dockdb", "/cgi-bin/items").split() == ["apples", "pears"]

    # the app's own view names the host; deployctl shows what the app was given
    shown = ok(dev.deployctl("db", "show", "stock", "--reveal", "--json")).stdout
    assert "@127.0.0.1:" in shown
    (live,) = client.containers.list(filters={"label": "deployd.app=dockdb"})
    env = dict(v.split("=", 1) for v in live.attrs["Config"]["Env"])
    assert "@host.docker.internal:" in env["DATABASE_URL"]
    # and a one-off container of the release gets the same view
    count = 'psql "$DATABASE_URL" -X -At -c "SELECT count(*) FROM items"'
    ran = ok(dev.deployctl("run", "dockdb", "--", count))
    assert ran.stdout.strip() == "2"
