"""The docker runtime through `deployctl`, against a real Docker Engine: builds, containers,
zero-downtime switches, crash restarts, adoption after a daemon crash, pruning.

The containers use the host's network on 127.0.0.1 (DEPLOYD_DOCKER_NETWORK=host), so no
test traffic leaves loopback.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import pytest
from docker.models.containers import Container

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, serve, start_daemon, world_readable_tempdir
from tests.support.docker import engine, ensure_base_image
from tests.support.load import hammering
from tests.support.waiting import wait_for

DOCKHELLO = Path(__file__).resolve().parents[1] / "support" / "apps" / "dockhello"
TOKEN = "tok_docker_0123456789abcdef"
_names = itertools.count(1)

# CI starts an Engine and sets DEPLOYD_TEST_REQUIRE_ALL: there, no Engine is a failure
pytestmark = pytest.mark.skipif(
    engine() is None and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="no Docker Engine running",
)


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    found = engine()
    assert found is not None
    ensure_base_image(found)
    return found


@pytest.fixture(scope="module")
def platform(pg_cluster: PrivateCluster, client: docker.DockerClient) -> Iterator[RunningDaemon]:
    name = "e2e_docker"
    pg_cluster.ensure_database(name)
    try:
        with serve(pg_cluster.conninfo(name), {"DEPLOYD_DOCKER_NETWORK": "host"}) as running:
            yield running
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def dockhello(platform: RunningDaemon) -> Iterator[tuple[str, Path]]:
    """A copy of the busybox app under a name of its own: (app name, its source)."""
    base = world_readable_tempdir("deployd-dock-")
    source = base / "app"
    shutil.copytree(DOCKHELLO, source)
    name = f"dock{next(_names)}"
    ok(platform.deployctl("apps", "create", name, "--path", str(source)))
    yield name, source
    platform.deployctl("apps", "delete", name, "--yes")
    shutil.rmtree(base, ignore_errors=True)


def ok(result: object) -> object:
    assert getattr(result, "returncode", 1) == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    return result


def show(daemon: RunningDaemon, app: str) -> Any:
    return json.loads(ok(daemon.deployctl("apps", "show", app, "--json")).stdout)  # type: ignore[attr-defined]


def container(client: docker.DockerClient, daemon: RunningDaemon, app: str) -> Container:
    info = show(daemon, app)
    found = client.containers.list(
        filters={"label": [f"deployd.app={app}", f"deployd.slot={info['live_slot']}"]}
    )
    assert len(found) == 1, found
    return found[0]


def body(daemon: RunningDaemon, app: str, path: str = "/") -> str:
    status, _, text = fetch(daemon, app, path)
    assert status == 200, text
    return text


def test_a_dockerfile_app_is_built_and_runs_in_a_container(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, source = dockhello
    with (source / "deployd.toml").open("a") as toml:
        toml.write('\n[resources]\nmemory = "64m"\ncpus = 0.5\n')
    ok(
        platform.deployctl(
            "env", "set", app, f"API_TOKEN={TOKEN}", "GREETING=bonjour", "--no-restart"
        )
    )
    result = ok(platform.deployctl("deploy", app))
    out = result.stdout  # type: ignore[attr-defined]
    assert "(Dockerfile)" in out and "Step 1/" in out  # the build log, streamed
    info = show(platform, app)
    live = next(s for s in info["slots"] if s["name"] == info["live_slot"])
    assert live["runtime"] == "docker"
    assert "release" in body(platform, app)
    # build args: only what the Dockerfile declares; the token is no build arg
    assert body(platform, app, "/greeting.txt").strip() == "built with GREETING=bonjour"
    env = body(platform, app, "/cgi-bin/env")
    assert f"API_TOKEN={TOKEN}" in env and f"PORT={live['port']}" in env
    assert f"DEPLOYD_RELEASE={info['live_release']}" in env

    running = container(client, platform, app)
    labels = running.labels
    assert (
        labels["deployd.release"] == str(info["live_release"])
        and labels["deployd.slot"] == live["name"]
    )
    assert str(running.name).endswith(f"-{app}.{live['name']}.web.1")
    assert labels["deployd.process"] == "web.1"
    host_config = running.attrs["HostConfig"]
    assert host_config["RestartPolicy"]["Name"] in ("no", "")
    assert host_config["Memory"] == 64 << 20 and host_config["NanoCpus"] == 500_000_000
    assert running.image is not None
    tags = client.images.get(str(running.image.id)).tags
    assert any(t.endswith(f"/{app}:{info['live_release']}") for t in tags), tags
    # the value reached the container over the API, never a command line
    for proc in psutil.process_iter(["cmdline"]):
        assert TOKEN not in " ".join(proc.info["cmdline"] or [])
    logs = ok(platform.deployctl("logs", app, "-n", "50")).stdout  # type: ignore[attr-defined]
    assert "starting with API_TOKEN=[masked:API_TOKEN]" in logs and TOKEN not in logs
    build_log = ok(platform.deployctl("logs", app, "--build", str(info["live_release"]))).stdout  # type: ignore[attr-defined]
    assert "Successfully built" in build_log
    # what the container's processes use is measured (they are not under the launcher)
    top = json.loads(ok(platform.deployctl("top", "--json")).stdout)  # type: ignore[attr-defined]
    measured = next(a for a in top["apps"] if a["app"] == app)
    assert [p["name"] for p in measured["processes"]] == ["web.1"] and measured["rss_bytes"] > 0


def test_redeploys_switch_containers_without_a_failed_request_and_roll_back(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, source = dockhello
    ok(platform.deployctl("deploy", app))
    first = show(platform, app)["live_release"]
    with hammering(lambda: fetch(platform, app)[0]) as tally:
        for n in range(2):
            (source / "www" / "index.html").write_text(f"version {n}\n")
            ok(platform.deployctl("deploy", app))
            assert body(platform, app).strip() == f"version {n}"
        ok(platform.deployctl("rollback", app))
    assert tally.failures == [] and tally.served > 0
    assert body(platform, app).strip() == "version 0"

    def one_container() -> bool:
        return len(client.containers.list(filters={"label": f"deployd.app={app}"})) == 1

    wait_for(one_container, timeout=30)  # the old slot drained and its container is gone
    assert show(platform, app)["live_release"] != first


def test_a_killed_container_is_restarted(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, _ = dockhello
    ok(platform.deployctl("deploy", app))
    before = container(client, platform, app)
    before.kill()

    def serving_again() -> bool:
        try:
            return (
                fetch(platform, app)[0] == 200 and container(client, platform, app).id != before.id
            )
        except (OSError, AssertionError):
            return False

    wait_for(serving_again, timeout=30)
    events = ok(platform.deployctl("events", "--app", app, "--kind", "app", "--json")).stdout  # type: ignore[attr-defined]
    crashed = [e for e in json.loads(events)["events"] if e["kind"] == "app.crashed"]
    assert crashed and "signal 9" in crashed[0]["message"]


def test_run_attaches_a_fresh_container_of_the_release(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, _ = dockhello
    ok(platform.deployctl("env", "set", app, "GREETING=hej", "--no-restart"))
    ok(platform.deployctl("deploy", app))
    script = 'read line; echo "got $line with $GREETING"; echo oops >&2; exit 5'
    result = platform.deployctl("run", app, "--", "sh", "-c", script, input="hello\n")
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert result.stdout.strip() == "got hello with hej" and result.stderr.strip() == "oops"
    assert client.containers.list(all=True, filters={"label": "deployd.oneoff=1"}) == []


def test_a_detached_run_logs_to_the_app_and_its_container_goes(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, _ = dockhello
    ok(platform.deployctl("deploy", app))
    started = json.loads(
        ok(  # type: ignore[attr-defined]
            platform.deployctl("run", app, "--detach", "--json", "--", "echo from $DYNO; sleep 1")
        ).stdout
    )
    name = started["process"]

    def logged() -> str:
        result = platform.deployctl("logs", app, "--type", name)
        return result.stdout if result.returncode == 0 else ""

    wait_for(lambda: f"from {name}" in logged() and f"{name} ended" in logged(), timeout=60)
    ours: dict[str, str | list[str] | bool] = {"label": f"deployd.process={name}"}
    wait_for(lambda: client.containers.list(all=True, filters=ours) == [], timeout=30)
    assert not list((platform.root / "data" / "apps" / app).glob(f"*{name}*"))


def test_a_daemon_killed_and_restarted_adopts_its_containers(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, _ = dockhello
    ok(platform.deployctl("deploy", app))
    before = container(client, platform, app)
    platform.stop(signal.SIGKILL)
    assert fetch(platform, app)[0] == 200  # nginx and the container carry on without us
    env = {k: v for k, v in platform.env.items() if k.startswith("DEPLOYD_")}
    platform.process = start_daemon(["serve"], platform.root, env).process
    after = container(client, platform, app)
    assert (
        after.id == before.id
        and after.attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]
    )
    assert fetch(platform, app)[0] == 200


def test_changing_the_runtime_switches_at_the_next_deploy(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, source = dockhello
    ok(platform.deployctl("deploy", app))
    (source / "Procfile").write_text("web: python3 -m http.server --bind 127.0.0.1 $PORT -d www\n")
    ok(platform.deployctl("apps", "set", app, "--runtime", "process"))
    ok(platform.deployctl("deploy", app))
    info = show(platform, app)
    live = next(s for s in info["slots"] if s["name"] == info["live_slot"])
    assert live["runtime"] == "process" and "release" in body(platform, app)
    wait_for(
        lambda: not client.containers.list(filters={"label": f"deployd.app={app}"}), timeout=30
    )


def test_images_of_pruned_releases_are_removed(
    platform: RunningDaemon, client: docker.DockerClient, dockhello: tuple[str, Path]
) -> None:
    app, source = dockhello
    images = []
    for n in range(7):
        (source / "www" / "index.html").write_text(f"build {n}\n")
        ok(platform.deployctl("deploy", app))
        image = container(client, platform, app).image
        assert image is not None
        images.append(image.id)
    present = {i.id for i in client.images.list()}
    assert images[0] not in present and images[1] not in present
    assert all(i in present for i in images[2:])


def test_without_an_engine_docker_apps_fail_clearly_and_others_run(
    pg_cluster: PrivateCluster, dockhello: tuple[str, Path], workdir: Path
) -> None:
    pg_cluster.ensure_database("e2e_nodocker")
    try:
        with serve(
            pg_cluster.conninfo("e2e_nodocker"),
            {"DEPLOYD_DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        ) as daemon:
            status = json.loads(ok(daemon.deployctl("status", "--json")).stdout)  # type: ignore[attr-defined]
            assert status["host"]["docker"] is False
            refused = daemon.deployctl(
                "apps", "create", "explicit", "--path", str(DOCKHELLO), "--runtime", "docker"
            )
            assert refused.returncode == 1 and "Docker Engine is not running" in refused.stderr
            ok(daemon.deployctl("apps", "create", "dockerish", "--path", str(dockhello[1])))
            failed = daemon.deployctl("deploy", "dockerish")
            assert failed.returncode == 1 and "Docker Engine is not running" in failed.stderr
            plain = workdir / "plain"
            shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "hello", plain)
            ok(daemon.deployctl("apps", "create", "plain", "--path", str(plain)))
            ok(daemon.deployctl("deploy", "plain"))
            assert fetch(daemon, "plain")[0] == 200
    finally:
        pg_cluster.drop_database("e2e_nodocker")
