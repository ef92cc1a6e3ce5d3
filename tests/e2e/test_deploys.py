"""Deploying for real: git, builds, processes, nginx and PostgreSQL, through `deployctl`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon
from tests.support.repos import EXAMPLE, Repo


def ok(result: object) -> None:
    assert getattr(result, "returncode", 1) == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]


def show(daemon: RunningDaemon, app: str) -> Any:
    result = daemon.deployctl("apps", "show", app, "--json")
    ok(result)
    return json.loads(result.stdout)


def served_release(daemon: RunningDaemon, app: str) -> str:
    status, headers, body = fetch(daemon, app)
    assert status == 200, body
    assert json.loads(body)["release"] == headers["x-deployd-release"]
    return headers["x-deployd-release"]


def test_git_app_deploys_behind_nginx(platform: RunningDaemon, workdir: Path) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "shop", "--git", repo.url, "--branch", "main"))
    result = platform.deployctl("deploy", "shop")
    ok(result)
    for step in (
        "fetching main",
        "starting v1 in blue",
        "checking GET /health",
        "switching nginx",
        "is live at http://shop.localhost",
    ):
        assert step in result.stdout, result.stdout
    info = show(platform, "shop")
    assert info["live_slot"] == "blue" and info["url"] == (
        f"http://shop.localhost:{platform.http_port}/"
    )
    blue = next(s for s in info["slots"] if s["name"] == "blue")
    assert blue["state"] == "live" and psutil.pid_exists(blue["pid"])
    assert served_release(platform, "shop") == str(info["live_release"])
    releases = json.loads(platform.deployctl("releases", "shop", "--json").stdout)["releases"]
    assert releases[0]["live"] and releases[0]["commit"] == repo.commit_sha
    assert releases[0]["version"] == 1 == info["live_release"]  # counted per app, from v1
    assert platform.deployctl("releases", "shop").stdout.split("\n")[1].split()[0] == "v1"


def test_redeploy_switches_slots_without_a_failed_request(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "busy", "--git", repo.url))
    ok(platform.deployctl("deploy", "busy"))
    first = served_release(platform, "busy")
    failures: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, headers, _ = fetch(platform, "busy")
            except OSError as exc:
                failures.append(f"{time.monotonic() - t0:.3f} {exc!r}")
                continue
            if status != 200:
                failures.append(f"HTTP {status}")
            seen.add(headers.get("x-deployd-release", "?"))

    t0 = time.monotonic()
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        repo.write("VERSION", "2\n").commit("second")
        ok(platform.deployctl("deploy", "busy"))
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    second = served_release(platform, "busy")
    assert second != first
    assert failures == []
    assert {first, second} <= seen
    info = show(platform, "busy")
    assert info["live_slot"] == "green"


def test_keep_alive_clients_see_no_error_across_deploys_and_rollbacks(
    platform: RunningDaemon, workdir: Path
) -> None:
    """nginx is never reloaded for a switch, so a reused connection is never closed."""
    import http.client

    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "sticky", "--git", repo.url))
    ok(platform.deployctl("deploy", "sticky"))
    failures: list[str] = []
    releases: set[str] = set()
    stop = threading.Event()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", platform.http_port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", "/", headers={"Host": "sticky.localhost"})
                reply = conn.getresponse()
                reply.read()
                releases.add(reply.getheader("X-Deployd-Release") or "?")
                if reply.status != 200 or reply.will_close:
                    failures.append(f"HTTP {reply.status}, will_close={reply.will_close}")
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                conn.close()
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        repo.write("VERSION", "2\n").commit("second")
        ok(platform.deployctl("deploy", "sticky"))
        ok(platform.deployctl("rollback", "sticky"))
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert failures == []
    assert len(releases) == 2


def test_an_unhealthy_release_leaves_the_old_one_serving(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "sick", "--git", repo.url))
    ok(platform.deployctl("deploy", "sick"))
    good = served_release(platform, "sick")
    repo.write("deployd.toml", '[health]\npath = "/nope-404"\ntimeout = 2\n').commit("bad health")
    result = platform.deployctl("deploy", "sick")
    assert result.returncode == 1
    assert "not healthy within 2s" in result.stderr and "HTTP 404" in result.stderr
    assert "last output" in result.stderr  # the app's own last lines
    assert served_release(platform, "sick") == good
    slots = {s["name"]: s for s in show(platform, "sick")["slots"]}
    assert slots["blue"]["state"] == "live" and slots["green"]["state"] == "failed"
    assert slots["green"]["pid"] is None


def test_an_app_that_exits_at_once_fails_the_deploy(platform: RunningDaemon, workdir: Path) -> None:
    repo = Repo(workdir)
    repo.write("Procfile", "web: python3 -c 'import sys; print(\"boom\"); sys.exit(3)'\n")
    repo.commit("crashes")
    ok(platform.deployctl("apps", "create", "crasher", "--git", repo.url))
    result = platform.deployctl("deploy", "crasher")
    assert result.returncode == 1
    assert "exited with status 3 before it became healthy" in result.stderr
    assert "boom" in result.stderr


def test_rollback_is_fast_and_does_not_rebuild(platform: RunningDaemon, workdir: Path) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "undo", "--git", repo.url))
    ok(platform.deployctl("deploy", "undo"))
    first = served_release(platform, "undo")
    repo.write("VERSION", "2\n").commit("second")
    ok(platform.deployctl("deploy", "undo"))
    assert served_release(platform, "undo") != first
    started = time.monotonic()
    result = platform.deployctl("rollback", "undo")
    elapsed = time.monotonic() - started
    ok(result)
    assert "build" not in result.stdout and "fetching" not in result.stdout
    assert served_release(platform, "undo") == first
    assert elapsed < 30  # generous: the figure itself is in docs/benchmarks.md
    releases = json.loads(platform.deployctl("releases", "undo", "--json").stdout)["releases"]
    assert [r["live"] for r in releases] == [False, True]
    ok(
        platform.deployctl("rollback", "undo", "--to", str(releases[0]["version"]))
    )  # and forward again
    assert served_release(platform, "undo") == str(releases[0]["version"])


def test_same_commit_is_not_built_twice_and_tags_and_shas_deploy(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    repo.tag("v1")
    ok(platform.deployctl("apps", "create", "cache", "--git", repo.url))
    first = platform.deployctl("deploy", "cache")
    ok(first)
    assert "building" in first.stdout
    again = platform.deployctl("deploy", "cache", "--ref", "v1")
    ok(again)
    assert "build cached" in again.stdout
    sha = repo.commit_sha
    by_sha = platform.deployctl("deploy", "cache", "--ref", sha[:10])
    ok(by_sha)
    assert "build cached" in by_sha.stdout


def test_a_path_source_is_copied_never_built_in_place(
    platform: RunningDaemon, workdir: Path
) -> None:
    import shutil

    source = workdir / "site"
    shutil.copytree(EXAMPLE, source)
    (source / "requirements.txt").write_text("")  # a Python app: gets its own virtualenv
    ok(platform.deployctl("apps", "create", "local", "--path", str(source)))
    result = platform.deployctl("deploy", "local")
    ok(result)
    assert "-m venv .venv" in result.stdout
    assert not (source / ".venv").exists()
    build = json.loads(
        platform.deployctl(
            "logs", "local", "--build", str(show(platform, "local")["live_release"]), "--json"
        ).stdout
    )
    assert any("venv" in line for line in build["lines"])
    runtime = json.loads(platform.deployctl("logs", "local", "--json").stdout)
    assert any("listening on" in line for line in runtime["lines"])


def test_delete_stops_everything_and_removes_the_site(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "gone", "--git", repo.url))
    ok(platform.deployctl("deploy", "gone"))
    pids = [s["pid"] for s in show(platform, "gone")["slots"] if s["pid"]]
    assert pids
    ok(platform.deployctl("apps", "delete", "gone", "--yes"))
    assert not any(psutil.pid_exists(pid) for pid in pids)
    assert not (platform.root / "nginx" / "sites" / "deployd-gone.conf").exists()
    assert not (platform.root / "data" / "apps" / "gone").exists()
    with pytest.raises(OSError):  # nginx's default server closes unknown hosts
        fetch(platform, "gone")
    assert platform.deployctl("apps", "show", "gone").returncode == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["apps", "create", "Bad_Name", "--path", "/tmp"], 2, "name"),
        (["apps", "create", "x", "--git", "ext::sh -c id"], 2, "invalid git URL"),
        (["apps", "create", "x", "--git", "file:///no/such/repo.git"], 2, "cannot read a git"),
        (
            ["apps", "create", "x", "--git", "file:///tmp", "--branch", "-delete"],
            2,
            "invalid git ref",
        ),
        (["apps", "create", "x", "--path", "relative/dir"], 2, "cannot read the directory"),
        (["apps", "create", "x", "--path", "/tmp", "--git", "file:///tmp"], 2, "exactly one"),
        (["apps", "create", "x", "--path", "/tmp", "--runtime", "podman"], 2, "runtime"),
        (["deploy", "no-such-app"], 1, "no app named no-such-app"),
        (["rollback", "no-such-app"], 1, "no app named no-such-app"),
    ],
)
def test_bad_input_is_refused_clearly_and_changes_nothing(
    platform: RunningDaemon, args: list[str], code: int, message: str
) -> None:
    before = platform.deployctl("apps", "list", "--json").stdout
    result = platform.deployctl(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert platform.deployctl("apps", "list", "--json").stdout == before


@pytest.mark.parametrize("ref", ["-x", "a..b", "main@{1}", "--upload-pack=touch /tmp/p"])
def test_bad_refs_are_refused(platform: RunningDaemon, workdir: Path, ref: str) -> None:
    repo = Repo(workdir)
    name = f"refs{abs(hash(ref)) % 10000}"
    ok(platform.deployctl("apps", "create", name, "--git", repo.url))
    result = platform.deployctl("deploy", name, "--ref", ref)
    assert result.returncode == 2 and "invalid git ref" in result.stderr


def test_repository_problems_fail_the_deploy_with_a_reason(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "broken", "--git", repo.url))
    missing = platform.deployctl("deploy", "broken", "--ref", "no-such-branch")
    assert missing.returncode == 1 and "no branch, tag or commit named" in missing.stderr
    repo.remove("Procfile").commit("no procfile")
    no_procfile = platform.deployctl("deploy", "broken")
    assert no_procfile.returncode == 1 and "no Procfile" in no_procfile.stderr
    repo.write("Procfile", "web: python3 app.py\n")
    repo.write("deployd.toml", '[build]\ncommand = "echo compiling; exit 7"\n').commit("bad build")
    failed = platform.deployctl("deploy", "broken")
    assert failed.returncode == 1 and "build failed" in failed.stderr
    assert "exited with status 7" in failed.stderr
    releases = json.loads(platform.deployctl("releases", "broken", "--json").stdout)["releases"]
    assert all(r["status"] == "failed" for r in releases)
    log = platform.deployctl("logs", "broken", "--build", str(releases[0]["version"]))
    assert "compiling" in log.stdout


def test_one_job_per_app_at_a_time(platform: RunningDaemon, workdir: Path) -> None:
    repo = Repo(workdir)
    # a build that takes a while: the first job is surely still running when the second
    # deployctl (half a second to start) asks
    repo.write("deployd.toml", '[build]\ncommand = "sleep 4"\n').commit("slow build")
    ok(platform.deployctl("apps", "create", "serial", "--git", repo.url))
    queued = platform.deployctl("deploy", "serial", "--no-wait", "--json")
    ok(queued)
    second = platform.deployctl("deploy", "serial")
    assert second.returncode == 1 and "already has job" in second.stderr
