"""Faults, for real: killed apps, crash-looping releases, a daemon killed mid-deploy or
under load, PostgreSQL restarted. Each asserts what a user sees."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, kill_leftovers, serve, start_daemon
from tests.support.repos import Repo
from tests.support.waiting import wait_for


@pytest.fixture
def daemon(pg_cluster: PrivateCluster) -> Iterator[RunningDaemon]:
    pg_cluster.ensure_database("faults")
    try:
        with serve(pg_cluster.conninfo("faults")) as running:
            yield running
    finally:
        pg_cluster.drop_database("faults")


@pytest.fixture
def repo(workdir: Path) -> Repo:
    return Repo(workdir)


def show(daemon: RunningDaemon, app: str) -> Any:
    return json.loads(daemon.deployctl("apps", "show", app, "--json").stdout)


def live_slot(daemon: RunningDaemon, app: str) -> Any:
    info = show(daemon, app)
    return next(s for s in info["slots"] if s["name"] == info["live_slot"])


def events(daemon: RunningDaemon, app: str, kind: str) -> Any:
    where = ["--app", app] if app else []
    out = daemon.deployctl("events", "--json", *where, "--kind", kind, "--limit", "100")
    return json.loads(out.stdout)["events"]


def serving(daemon: RunningDaemon, app: str) -> str | None:
    try:
        status, headers, _ = fetch(daemon, app)
    except OSError:
        return None
    return headers.get("x-deployd-release") if status == 200 else None


def web_pid(daemon: RunningDaemon, app: str) -> int | None:
    """The live release's web.1 as `deployctl ps` shows it: the app's own pid."""
    found = json.loads(daemon.deployctl("ps", app, "--json").stdout)
    return next(
        (
            p["pid"]
            for p in found["processes"]
            if p["name"] == "web.1" and p["state"] == "up" and p["release"] == found["live_release"]
        ),
        None,
    )


def deploy(daemon: RunningDaemon, app: str, repo: Repo) -> None:
    if daemon.deployctl("apps", "show", app).returncode != 0:
        assert daemon.deployctl("apps", "create", app, "--git", repo.url).returncode == 0
    result = daemon.deployctl("deploy", app)
    assert result.returncode == 0, result.stderr


def test_a_killed_app_is_restarted_with_back_off(daemon: RunningDaemon, repo: Repo) -> None:
    deploy(daemon, "phoenix", repo)
    for attempt in (1, 2):
        pid = web_pid(daemon, "phoenix")
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)

        def restarted(old: int = pid) -> bool:
            return web_pid(daemon, "phoenix") not in (None, old)

        wait_for(restarted, timeout=20)
        crashes = events(daemon, "phoenix", "app.crashed")
        assert len(crashes) == attempt
        assert "signal 9" in str(crashes[-1]["message"])
        assert crashes[-1]["data"]["restart_in"] == 2 ** (attempt - 1)
    assert serving(daemon, "phoenix") == str(show(daemon, "phoenix")["live_release"])
    assert len(events(daemon, "phoenix", "app.restarted")) == 2


def test_a_release_that_crashes_soon_after_going_live_is_rolled_back(
    daemon: RunningDaemon, repo: Repo
) -> None:
    deploy(daemon, "flaky", repo)
    good = serving(daemon, "flaky")
    repo.write("Procfile", "web: timeout 2 python3 app.py\n").commit("dies after 2s")
    deploy(daemon, "flaky", repo)
    bad = show(daemon, "flaky")["live_release"]
    wait_for(lambda: serving(daemon, "flaky") == good, timeout=60)
    loops = events(daemon, "flaky", "app.crashlooping")
    assert loops and f"v{bad} crashed 3 times" in str(loops[-1]["message"])
    releases = json.loads(daemon.deployctl("releases", "flaky", "--json").stdout)["releases"]
    status = {r["version"]: r["status"] for r in releases}
    assert good is not None
    assert status[bad] == "crashlooping" and status[int(good)] == "live"
    slots = {s["name"]: s["state"] for s in show(daemon, "flaky")["slots"]}
    assert sorted(slots.values()) == ["live", "stopped"]


def test_a_crash_loop_rollback_that_brings_an_old_config_back_says_so(
    daemon: RunningDaemon, repo: Repo
) -> None:
    """The release made by `env unset DEBUG` crash-loops; rolling back makes the config with
    DEBUG current again, which the user is told in the events and in `releases`."""
    repo.write(
        "Procfile", 'web: [ -n "$DEBUG" ] || exec timeout 2 python3 app.py; exec python3 app.py\n'
    )
    repo.commit("needs DEBUG")
    assert daemon.deployctl("apps", "create", "configured", "--git", repo.url).returncode == 0
    assert daemon.deployctl("env", "set", "configured", "DEBUG=yes-please").returncode == 0
    deploy(daemon, "configured", repo)
    good = serving(daemon, "configured")
    unset = daemon.deployctl("env", "unset", "configured", "DEBUG")  # a config release
    assert unset.returncode == 0, unset.stderr
    wait_for(lambda: events(daemon, "configured", "env.restored"), timeout=60)
    restored = events(daemon, "configured", "env.restored")[-1]["message"]
    assert "DEBUG comes back" in restored and "yes-please" not in restored
    assert serving(daemon, "configured") == good
    releases = json.loads(daemon.deployctl("releases", "configured", "--json").stdout)["releases"]
    looped = next(r for r in releases if r["status"] == "crashlooping")
    assert "DEBUG comes back" in looped["error"]


def test_killing_the_daemon_under_load_drops_no_request(daemon: RunningDaemon, repo: Repo) -> None:
    deploy(daemon, "steady", repo)
    pid_before = live_slot(daemon, "steady")["pid"]
    failures: list[str] = []
    served = [0]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            if serving(daemon, "steady") is None:
                failures.append("failed")
            else:
                served[0] += 1

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for _ in range(3):
            daemon.stop(signal.SIGKILL)
            restarted = start_daemon(
                ["serve"],
                daemon.root,
                {k: v for k, v in daemon.env.items() if k.startswith("DEPLOYD_")},
            )
            daemon.process = restarted.process
    finally:
        stop.set()
        thread.join(10)
    assert failures == [] and served[0] > 0
    assert live_slot(daemon, "steady")["pid"] == pid_before  # adopted, never restarted


@pytest.mark.parametrize("failpoint", ["after-start", "after-switch", "after-verify"])
def test_a_daemon_killed_mid_deploy_leaves_nothing_half_done(
    pg_cluster: PrivateCluster, repo: Repo, failpoint: str
) -> None:
    db = f"mid_{failpoint.replace('-', '_')}"
    pg_cluster.ensure_database(db)
    try:
        with serve(pg_cluster.conninfo(db)) as daemon:
            deploy(daemon, "midway", repo)
            first = serving(daemon, "midway")
            env = {k: v for k, v in daemon.env.items() if k.startswith("DEPLOYD_")}
            daemon.stop()
            crashing = start_daemon(["serve"], daemon.root, {**env, "DEPLOYD_FAILPOINT": failpoint})
            repo.write("VERSION", "2\n").commit("second")
            crashing.deployctl("deploy", "midway")
            crashing.process.wait(30)
            assert crashing.process.returncode == -signal.SIGKILL
            assert serving(daemon, "midway") in (first, str(int(first or 0) + 1))
            again = start_daemon(["serve"], daemon.root, env)
            daemon.process = again.process
            info = show(daemon, "midway")
            states = sorted(s["state"] for s in info["slots"])
            assert states.count("live") == 1, info
            live = live_slot(daemon, "midway")
            switch = daemon.root / "switch" / "midway" / "current"
            assert os.readlink(switch) == f"{info['live_release']}-{live['name']}-1"
            assert serving(daemon, "midway") == str(info["live_release"])
            # flipping nginx's switch is the commit point: once it names the new slot, the
            # next daemon completes the deploy; before that, it aborts it
            expected = first if failpoint == "after-start" else str(int(first or 0) + 1)
            assert serving(daemon, "midway") == expected
            app_processes = [
                p
                for p in psutil.process_iter(["cwd", "environ"])
                if (p.info["cwd"] or "").startswith(str(daemon.root / "data"))
                or (p.info["environ"] or {}).get("DEPLOYD_APP") == "midway"  # at /app
            ]
            # the Procfile line runs under a shell: every app process is in the live
            # slot's process group, and nothing else is left running
            assert live["pid"] in [p.pid for p in app_processes]
            assert web_pid(daemon, "midway") in [p.pid for p in app_processes]
            assert {os.getpgid(p.pid) for p in app_processes} == {live["pid"]}
            jobs_left = daemon.deployctl("apps", "show", "midway", "--json")
            assert json.loads(jobs_left.stdout)["active_job"] is None
            repo.write("VERSION", "3\n").commit("third")
            assert daemon.deployctl("deploy", "midway").returncode == 0
            assert serving(daemon, "midway") == str(show(daemon, "midway")["live_release"])
    finally:
        pg_cluster.drop_database(db)


def test_postgresql_restarting_under_the_daemon(
    pg_cluster: PrivateCluster, daemon: RunningDaemon, repo: Repo
) -> None:
    deploy(daemon, "dbdown", repo)
    pg_cluster.stop()
    try:
        assert serving(daemon, "dbdown") is not None  # apps do not need the database
        down = daemon.deployctl("status", "--json")
        assert down.returncode in (0, 1)
    finally:
        pg_cluster.start()
    wait_for(lambda: daemon.deployctl("status", "--json").returncode == 0, timeout=30)
    status = json.loads(daemon.deployctl("status", "--json").stdout)
    assert status["database"]["state"] == "ok"
    assert daemon.process.poll() is None  # the daemon never crashed
    repo.write("VERSION", "2\n").commit("after the outage")
    assert daemon.deployctl("deploy", "dbdown").returncode == 0


@pytest.fixture
def tiny_log_disk(pg_cluster: PrivateCluster) -> Iterator[tuple[RunningDaemon, Path]]:
    """A daemon whose log directory is a 512 KiB tmpfs."""
    from tests.support.daemon import world_readable_tempdir

    base = world_readable_tempdir("deployd-disk-")
    logs = base / "root" / "logs"
    logs.mkdir(parents=True)
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(logs)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    pg_cluster.ensure_database("tinydisk")
    daemon = start_daemon(
        ["serve"],
        base / "root",
        {
            "DEPLOYD_DATABASE_URL": pg_cluster.conninfo("tinydisk"),
            "DEPLOYD_SOCKET_MODE": "0666",
        },
    )
    try:
        yield daemon, logs
    finally:
        daemon.stop()
        kill_leftovers(base / "root")
        subprocess.run(["umount", "-l", str(logs)], check=False)
        pg_cluster.drop_database("tinydisk")
        shutil.rmtree(base, ignore_errors=True)


def test_a_full_log_disk_neither_stops_the_app_nor_the_daemon(
    tiny_log_disk: tuple[RunningDaemon, Path], repo: Repo
) -> None:
    daemon, logs = tiny_log_disk
    deploy(daemon, "hoarder", repo)
    filler = logs / "filler"
    with filler.open("wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"x" * 4096)
    assert all(serving(daemon, "hoarder") is not None for _ in range(50))
    status = json.loads(daemon.deployctl("status", "--json").stdout)
    disk = next(d for d in status["disks"] if d["path"] == str(logs))
    assert disk["low"] and disk["free_bytes"] < 8192
    wait_for(lambda: events(daemon, "", "disk.low") or None, timeout=20)
    assert "LOW" in daemon.deployctl("status").stdout
    repo.write("VERSION", "2\n").commit("deploy onto a full disk")
    result = daemon.deployctl("deploy", "hoarder")
    assert "Traceback" not in result.stderr
    assert daemon.process.poll() is None
    filler.unlink()
    wait_for(lambda: events(daemon, "", "disk.ok") or None, timeout=20)
    assert serving(daemon, "hoarder") is not None


def test_a_live_app_failing_its_health_checks_is_restarted(
    daemon: RunningDaemon, repo: Repo
) -> None:
    sick_check = (
        'if self.path == "/health":\n'
        '            if os.path.exists("/tmp/" + os.environ["DEPLOYD_APP"] + ".sick"):\n'
        "                self.send_error(503)\n"
        "                return\n"
    )
    original = (repo.work / "app.py").read_text()
    app_py = original.replace('if self.path == "/health":\n', sick_check)
    assert "sick" in app_py
    repo.write("app.py", app_py)
    repo.write("deployd.toml", "[health]\npath = '/health'\ninterval = 0.1\nlive_interval = 0.2\n")
    repo.commit("health can fail")
    deploy(daemon, "wobbly", repo)
    pid = web_pid(daemon, "wobbly")
    flag = Path("/tmp/wobbly.sick")
    flag.write_text("")
    try:
        wait_for(lambda: events(daemon, "wobbly", "app.crashed"), timeout=20)
    finally:
        flag.unlink()
    crash = events(daemon, "wobbly", "app.crashed")[0]
    assert "failed 3 live health checks in a row (last: HTTP 503)" in str(crash["message"])
    wait_for(lambda: web_pid(daemon, "wobbly") not in (None, pid), timeout=20)
    assert serving(daemon, "wobbly") is not None


def test_a_deploy_under_way_survives_a_postgresql_restart(
    pg_cluster: PrivateCluster, daemon: RunningDaemon, repo: Repo
) -> None:
    deploy(daemon, "patient", repo)
    before = show(daemon, "patient")["live_release"]
    repo.write("Procfile", "web: sleep 3; python3 app.py\n").commit("slow to boot")
    queued = json.loads(daemon.deployctl("deploy", "patient", "--no-wait", "--json").stdout)
    wait_for(lambda: show(daemon, "patient")["slots"][1]["state"] == "starting")
    pg_cluster.stop()
    try:
        assert serving(daemon, "patient") is not None
    finally:
        pg_cluster.start()
    wait_for(lambda: show(daemon, "patient")["active_job"] is None, timeout=60)
    info = show(daemon, "patient")
    assert info["live_slot"] == "green" and info["live_release"] not in (None, before)
    job = json.loads(
        daemon.deployctl(
            "events", "--json", "--app", "patient", "--kind", "deploy.succeeded"
        ).stdout
    )["events"]
    assert [e["data"]["job"] for e in job][-1] == queued["id"]
    assert serving(daemon, "patient") == str(info["live_release"])
