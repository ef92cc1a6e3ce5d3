"""The process model as Heroku and Dokku users know it (issue 11): every Procfile type, counts
per type that persist, `ps`, `scale`, rolling `restart`, `stop`/`start`, and logs that say
which process wrote each line. Scaling, restarting and deploying several web processes
drop no request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from deployd.domain.logline import parse_line
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, world_readable_tempdir
from tests.support.repos import APPS, from_fixture, repository
from tests.support.traffic import client_loop
from tests.support.waiting import wait_for


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def ps(platform: RunningDaemon, app: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ok(platform.deployctl("ps", app, "--json")).stdout)
    return result


def running(platform: RunningDaemon, app: str) -> dict[str, dict[str, Any]]:
    """The live release's processes by name."""
    found = ps(platform, app)
    return {
        p["name"]: p
        for p in found["processes"]
        if p["release"] == found["live_release"] and p["state"] == "up"
    }


@pytest.fixture(scope="module")
def procs(platform: RunningDaemon) -> str:
    base = world_readable_tempdir("deployd-procs-")
    ok(platform.deployctl("apps", "create", "procs", "--git", from_fixture(base, "procs")))
    deployed = ok(platform.deployctl("deploy", "procs"))
    assert "not running clock, worker (0 processes)" in deployed.stdout
    assert "deployctl scale procs clock=1" in deployed.stdout
    return "procs"


def test_a_worker_runs_when_scaled_and_logs_say_which_process_wrote(
    platform: RunningDaemon, procs: str
) -> None:
    assert set(running(platform, procs)) == {"web.1"}
    ok(platform.deployctl("scale", procs, "worker=2"))
    now = running(platform, procs)
    assert set(now) == {"web.1", "worker.1", "worker.2"}
    assert now["worker.1"]["pid"] and now["worker.1"]["port"] is None
    assert now["web.1"]["port"] and now["web.1"]["rss_bytes"] > 0

    def worker_lines() -> list[str]:
        out = ok(platform.deployctl("logs", procs, "--type", "worker", "-n", "50")).stdout
        return [line for line in out.splitlines() if "tick" in line]

    def sources(lines: list[str]) -> set[str]:
        return {p.source for p in map(parse_line, lines) if p is not None}

    wait_for(lambda: sources(worker_lines()) >= {"worker.1", "worker.2"})
    web_only = ok(platform.deployctl("logs", procs, "--type", "web.1", "-n", "200")).stdout
    assert "tick" not in web_only and "web.1" in web_only
    one = ok(platform.deployctl("logs", procs, "--type", "worker.2", "-n", "20")).stdout
    assert sources(one.splitlines()) <= {"worker.2", "deployd"}
    ok(platform.deployctl("scale", procs, "worker=0"))
    assert set(running(platform, procs)) == {"web.1"}


def test_counts_persist_across_deploys_and_a_crashed_worker_comes_back(
    platform: RunningDaemon, procs: str
) -> None:
    ok(platform.deployctl("scale", procs, "worker=1"))
    first = running(platform, procs)["worker.1"]
    ok(platform.deployctl("deploy", procs))
    after = running(platform, procs)
    assert set(after) == {"web.1", "worker.1"}
    assert after["worker.1"]["release"] != first["release"]
    os.kill(after["worker.1"]["pid"], signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        worker = running(platform, procs).get("worker.1")
        return worker if worker is not None and worker["restarts"] == 1 else None

    back = wait_for(restarted)
    assert back is not None
    assert back["pid"] != after["worker.1"]["pid"]
    assert running(platform, procs)["web.1"]["pid"] == after["web.1"]["pid"]  # left alone
    ok(platform.deployctl("scale", procs, "worker=0"))


def test_scaling_web_up_and_down_drops_no_request(platform: RunningDaemon, procs: str) -> None:
    with client_loop(platform, procs, keep_alive=False) as first:  # nginx learns new ports
        ok(platform.deployctl("scale", procs, "web=3"))
        three = running(platform, procs)
        assert {"web.1", "web.2", "web.3"} <= set(three)
        assert len({p["port"] for p in three.values() if p["port"]}) == 3
        wait_for(lambda: {s.split("/")[0] for s in first.served_by} >= {"web.2", "web.3"})
    with client_loop(platform, procs) as kept:  # keep-alive: nginx is never reloaded now
        ok(platform.deployctl("scale", procs, "web=1"))
        ok(platform.deployctl("scale", procs, "web=2"))
        ok(platform.deployctl("scale", procs, "web=1"))
    assert first.failures == [] and kept.failures == [], (first.failures + kept.failures)[:5]
    assert first.requests > 50 and kept.requests > 100
    assert set(running(platform, procs)) == {"web.1"}


def test_deploys_with_three_web_processes_drop_no_request(
    platform: RunningDaemon, procs: str
) -> None:
    ok(platform.deployctl("scale", procs, "web=3"))
    with client_loop(platform, procs, keep_alive=False) as first:  # the idle slot's new ports
        ok(platform.deployctl("deploy", procs))
    with client_loop(platform, procs) as kept:
        ok(platform.deployctl("deploy", procs))
    errors = platform.root / "nginx" / "logs" / "error.log"
    said = errors.read_text()[-3000:] if errors.exists() else "no nginx error log"
    assert first.failures == [], ("fresh connections", first.failures[:3], said)
    assert kept.failures == [], ("keep-alive", kept.failures[:3], said)
    assert len(first.releases) == 2 and len(kept.releases) == 2
    now = running(platform, procs)
    assert {"web.1", "web.2", "web.3"} <= set(now)
    ok(platform.deployctl("scale", procs, "web=1"))


def test_a_rolling_restart_replaces_every_process_without_a_dropped_request(
    platform: RunningDaemon, procs: str
) -> None:
    ok(platform.deployctl("scale", procs, "web=2", "worker=1"))
    before = {name: p["pid"] for name, p in running(platform, procs).items()}
    with client_loop(platform, procs) as traffic:
        ok(platform.deployctl("restart", procs))
    assert traffic.failures == [], traffic.failures[:5]
    after = {name: p["pid"] for name, p in running(platform, procs).items()}
    assert set(after) == {"web.1", "web.2", "worker.1"}
    assert all(after[name] != before[name] for name in after), (before, after)
    only = ok(platform.deployctl("restart", procs, "worker"))
    assert "worker.1" in only.stdout
    again = {name: p["pid"] for name, p in running(platform, procs).items()}
    assert again["web.1"] == after["web.1"] and again["worker.1"] != after["worker.1"]
    ok(platform.deployctl("scale", procs, "web=1", "worker=0"))


def test_stop_answers_503_and_start_serves_again(platform: RunningDaemon, procs: str) -> None:
    ok(platform.deployctl("stop", procs))
    status, _, body = fetch(platform, procs)
    assert status == 503 and "procs is stopped" in body
    assert ps(platform, procs)["stopped"] is True
    assert running(platform, procs) == {}
    ok(platform.deployctl("start", procs))
    status, _, body = fetch(platform, procs)
    assert status == 200 and json.loads(body)["dyno"] == "web.1"


def test_scale_and_restart_say_what_is_wrong_in_words(platform: RunningDaemon, procs: str) -> None:
    unknown = platform.deployctl("scale", procs, "sidekiq=1")
    assert unknown.returncode == 2
    assert "no process type 'sidekiq'" in unknown.stderr and "clock, web, worker" in unknown.stderr
    malformed = platform.deployctl("scale", procs, "web:2")
    assert malformed.returncode == 2 and "TYPE=COUNT" in malformed.stderr
    too_many = platform.deployctl("scale", procs, "web=1000")
    assert too_many.returncode == 2 and "at most 64" in too_many.stderr
    restart = platform.deployctl("restart", procs, "sidekiq")
    assert restart.returncode == 2 and "no process type 'sidekiq'" in restart.stderr
    assert "job" not in restart.stdout + restart.stderr  # refused before any job is queued
    assert "Traceback" not in unknown.stderr + malformed.stderr + too_many.stderr


def test_an_app_with_only_a_worker_deploys_and_says_it_has_no_web(
    platform: RunningDaemon, workdir: Path
) -> None:
    url = repository(
        workdir,
        "lonely",
        {
            "Procfile": "worker: python3 -c 'import time; time.sleep(600)'\n",
            "app.json": json.dumps({"formation": {"worker": {"quantity": 1}}}),
            "deployd.toml": "[deploy]\nsettle = 1\n",
        },
    )
    ok(platform.deployctl("apps", "create", "lonely", "--git", url))
    ok(platform.deployctl("deploy", "lonely"))
    assert set(running(platform, "lonely")) == {"worker.1"}
    status, _, body = fetch(platform, "lonely")
    assert status == 503 and "runs no web process" in body


def test_run_passes_stdin_output_and_exit_status_as_the_apps_account(
    platform: RunningDaemon, procs: str
) -> None:
    script = (
        'read line; echo "got $line as $(id -u) in $DYNO of $DEPLOYD_APP"; echo oops >&2; exit 7'
    )
    result = platform.deployctl("run", procs, "--", "sh", "-c", script, input="hello\n")
    assert result.returncode == 7, result
    said = result.stdout.strip().split()
    assert said[:2] == ["got", "hello"] and said[5].startswith("run.") and said[-1] == procs
    if os.geteuid() == 0:
        assert said[3] != "0"  # the app's own account, never root
    assert result.stderr.strip() == "oops"
    shell = ok(platform.deployctl("run", procs, "echo $DEPLOYD_RELEASE"))
    assert int(shell.stdout) == ps(platform, procs)["live_release"]


@pytest.mark.skipif(os.geteuid() != 0, reason="/app needs a private mount namespace (root)")
def test_the_release_is_at_app_as_on_dokku(platform: RunningDaemon, workdir: Path) -> None:
    app_py = (APPS / "procs" / "app.py").read_text()
    url = repository(
        workdir,
        "dokkuish",
        {
            "Procfile": "release: touch /app/release.test\nweb: python3 app.py\n",
            "app.py": app_py,
        },
    )
    ok(platform.deployctl("apps", "create", "dokkuish", "--git", url))
    ok(platform.deployctl("deploy", "dokkuish"))
    seen = ok(platform.deployctl("run", "dokkuish", "pwd; echo $HOME; ls /app/release.test"))
    assert seen.stdout.split() == ["/app", "/app", "/app/release.test"]
    assert not Path("/app/release.test").exists()  # the host's /app stays an empty mount point
    web = running(platform, "dokkuish")["web.1"]["pid"]
    assert os.readlink(f"/proc/{web}/cwd") == "/app"


def test_ctrl_c_reaches_a_one_off(platform: RunningDaemon, procs: str) -> None:
    from tests.support.daemon import BIN

    client = subprocess.Popen(
        [
            str(BIN / "deployctl"),
            "--socket",
            str(platform.socket),
            "run",
            procs,
            "trap 'echo caught; exit 3' INT; echo ready; sleep 30 & wait",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    assert client.stdout.readline().strip() == "ready"
    client.send_signal(signal.SIGINT)
    out, _ = client.communicate(timeout=15)
    assert client.returncode == 3 and "caught" in out


def test_a_detached_run_writes_to_the_logs_and_the_audit_log_masks_its_command(
    platform: RunningDaemon, procs: str
) -> None:
    ok(platform.deployctl("env", "set", procs, "RUN_SECRET=hush-9f8e7d"))  # a config release
    started = json.loads(
        ok(
            platform.deployctl("run", procs, "--detach", "--json", "--", "echo", "hush-9f8e7d")
        ).stdout
    )
    name = started["process"]
    lines = wait_for(
        lambda: [
            line
            for line in ok(platform.deployctl("logs", procs, "--type", name)).stdout.splitlines()
            if "exited with status 0" in line
        ]
    )
    assert lines
    logged = ok(platform.deployctl("logs", procs, "--type", name)).stdout
    assert f" {name}[" in logged and "hush-9f8e7d" not in logged  # masked like every line
    audit = ok(platform.deployctl("audit", "--json")).stdout
    runs = [e for e in json.loads(audit)["entries"] if e["method"] == "apps.run"]
    assert any(name in e["detail"] for e in runs) and "hush-9f8e7d" not in audit


def test_the_apps_own_lines_of_health_probes_stay_out_of_its_log(
    platform: RunningDaemon, workdir: Path
) -> None:
    """The example app logs every request, deployd's probes (every 0.2 s here) included."""
    assert probe_lines(platform, workdir, "quiet", log_probes=False) == 0
    assert probe_lines(platform, workdir, "chatty", log_probes=True) > 0


def probe_lines(platform: RunningDaemon, workdir: Path, name: str, *, log_probes: bool) -> int:
    example = Path(__file__).resolve().parents[2] / "examples" / "hello"
    files = {p.name: p.read_text() for p in example.iterdir() if p.is_file()}
    settings = f"[health]\nlive_interval = 0.2\nlog_probes = {str(log_probes).lower()}\n"
    files["deployd.toml"] = files["deployd.toml"].replace("[health]\n", settings, 1)
    ok(platform.deployctl("apps", "create", name, "--git", repository(workdir, name, files)))
    ok(platform.deployctl("deploy", name))
    assert fetch(platform, name)[0] == 200

    def log() -> str:
        return str(ok(platform.deployctl("logs", name, "-n", "1000")).stdout)

    wait_for(lambda: '"GET / HTTP/1.1" 200' in log(), timeout=10)  # a visitor's line is kept
    time.sleep(1)  # five live probes
    return log().count("GET /health")
