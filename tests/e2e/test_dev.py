"""The newcomer's path: `deployd dev` and the `deployctl` binary, as a person runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import (
    BIN,
    RunningDaemon,
    remove_accounts,
    start_daemon,
    world_readable_tempdir,
)
from tests.support.waiting import wait_for


def deployctl(
    socket: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "deployctl"), "--socket", str(socket), *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )


def postgres_running(root: Path, cluster: str = "pg") -> bool:
    pid_file = root / cluster / "data" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    path = world_readable_tempdir("deployd-e2e-")
    yield path
    for root in path.iterdir():  # dev keeps its apps' accounts for its next start
        if root.is_dir():
            remove_accounts(root)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def dev(base: Path) -> Iterator[RunningDaemon]:
    daemon = start_daemon(["dev", "--root", str(base / "root")], base / "root")
    yield daemon
    daemon.stop()


def test_first_start_creates_everything_and_prints_the_admin_password_once(
    dev: RunningDaemon,
) -> None:
    output = dev.output()
    assert "initialised a private PostgreSQL cluster" in output
    match = re.search(r"created user 'admin' with password (\S+)", output)
    assert match, output
    assert (dev.root / "pg" / "data" / "PG_VERSION").exists()
    assert not any(dev.root.glob("pg/.s.PGSQL.*.lock")) or postgres_running(dev.root)
    assert oct(dev.socket.stat().st_mode & 0o777) == "0o660"
    login = deployctl(
        dev.socket, "login", "admin", "--password-stdin", "--json", input=match[1] + "\n"
    )
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["token"].startswith("dpd_")


def test_first_start_deploys_the_example_app_behind_the_private_nginx(dev: RunningDaemon) -> None:
    wait_for(lambda: "is live at" in dev.output() or "FAILED" in dev.output(), timeout=60)
    assert f"v1 is live at http://hello.localhost:{dev.http_port}/" in dev.output()
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", dev.http_port, timeout=10)
    conn.request("GET", "/", headers={"Host": "hello.localhost"})
    reply = conn.getresponse()
    assert reply.status == 200 and reply.getheader("X-Deployd-Release") == "1"
    assert json.loads(reply.read())["app"] == "hello"
    listed = json.loads(deployctl(dev.socket, "apps", "list", "--json").stdout)["apps"]
    assert [(a["name"], a["live_release"]) for a in listed] == [("hello", 1)]


def test_status_json_is_one_document_with_the_host_facts(dev: RunningDaemon) -> None:
    result = deployctl(dev.socket, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["mode"] == "dev"
    assert status["database"]["state"] == "ok"
    assert status["database"]["migrations_pending"] == 0
    assert status["host"]["root"] is (os.geteuid() == 0)
    assert status["host"]["systemd"] is Path("/run/systemd/system").is_dir()
    assert status["identity"]["role"] == "admin"
    assert status["uptime_seconds"] >= 0
    before = deployctl(dev.socket, "--json", "status")  # --json before the command works too
    assert json.loads(before.stdout)["mode"] == "dev"
    missing = deployctl(dev.socket, "--json", "apps", "show", "nope")
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["kind"] == "not_found"


def test_status_for_people(dev: RunningDaemon) -> None:
    result = deployctl(dev.socket, "status")
    assert result.returncode == 0
    for label in ("deployd", "uptime", "database", "systemd", "docker", "nginx"):
        assert label in result.stdout


def test_users_through_the_cli(dev: RunningDaemon) -> None:
    added = deployctl(dev.socket, "users", "add", "erin", "--role", "deployer", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["generated_password"]
    listed = json.loads(deployctl(dev.socket, "users", "list", "--json").stdout)
    assert {"erin", "admin"} <= {u["name"] for u in listed["users"]}
    changed = deployctl(
        dev.socket, "users", "passwd", "erin", "--password-stdin", input="a-fine-password\n"
    )
    assert changed.returncode == 0 and "password of erin changed" in changed.stdout
    assert "a-fine-password" not in changed.stdout + changed.stderr
    token = deployctl(dev.socket, "users", "token", "erin", "--ttl", "1h", "--json")
    assert token.returncode == 0
    removed = deployctl(dev.socket, "users", "remove", "erin")
    assert removed.returncode == 0 and "1 tokens revoked" in removed.stdout
    audit = deployctl(dev.socket, "audit", "--since", "1d", "--json")
    methods = [e["method"] for e in json.loads(audit.stdout)["entries"]]
    assert methods[-4:] == ["users.add", "users.passwd", "tokens.create", "users.remove"]
    assert deployctl(dev.socket, "audit", "--verify").returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["users", "add", "Not Valid"], 2, "name"),
        (["users", "remove", "ghost"], 1, "no user named ghost"),
        (["users", "remove", "admin"], 1, "built-in"),
        (["audit", "--since", "yesterday"], 2, "since"),
        (["no-such-command"], 2, "No such command"),
    ],
)
def test_errors_are_one_line_with_the_documented_exit_code(
    dev: RunningDaemon, args: list[str], code: int, message: str
) -> None:
    result = deployctl(dev.socket, *args)
    assert result.returncode == code, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_json_errors_are_a_document_on_stdout(dev: RunningDaemon) -> None:
    result = deployctl(dev.socket, "users", "remove", "ghost", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "error": {"kind": "not_found", "message": "no user named ghost"}
    }


def test_a_second_daemon_on_the_same_root_refuses_to_start(dev: RunningDaemon) -> None:
    second = subprocess.run(
        [str(BIN / "deployd"), "dev", "--root", str(dev.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"another deployd (pid {dev.process.pid}) is already running" in second.stderr
    assert "Traceback" not in second.stderr
    assert deployctl(dev.socket, "status").returncode == 0  # the first one is unharmed


def test_sigterm_stops_daemon_and_postgres_and_a_restart_reuses_the_data(
    dev: RunningDaemon, base: Path
) -> None:
    deployctl(dev.socket, "users", "add", "keeper", "--role", "viewer")
    assert postgres_running(dev.root)
    assert not (dev.root / "apps-pg").exists()  # made by the first database, not before
    made = deployctl(dev.socket, "db", "create", "devdb", "--app", "hello")
    assert made.returncode == 0, made.stderr
    assert postgres_running(dev.root, "apps-pg")
    state_dbs = subprocess.run(  # apart from deployd's own state: not in its cluster
        ["psql", f"host={dev.root / 'pg'} user=deployd dbname=postgres", "-XAtc",
         "SELECT datname FROM pg_database"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "devdb" not in state_dbs and "deployd" in state_dbs
    assert dev.stop(signal.SIGTERM) == 0
    assert not dev.socket.exists()
    wait_for(lambda: not postgres_running(dev.root))
    wait_for(lambda: not postgres_running(dev.root, "apps-pg"))
    gone = deployctl(dev.socket, "status")
    assert gone.returncode == 3
    assert gone.stderr.strip() == f"deployctl: deployd is not running (no socket at {dev.socket})"

    again = start_daemon(["dev", "--root", str(dev.root)], dev.root)
    try:
        assert "created user" not in again.output()
        assert "initialised" not in again.output()
        assert "deploying the example" not in again.output()
        hello = json.loads(deployctl(dev.socket, "apps", "show", "hello", "--json").stdout)
        live = next(s for s in hello["slots"] if s["name"] == hello["live_slot"])
        assert live["state"] == "live" and live["pid"]  # brought back after the restart
        events = json.loads(
            deployctl(dev.socket, "events", "--app", "hello", "--limit", "200", "--json").stdout
        )["events"]
        kinds = [e["kind"] for e in events]
        assert "slot.suspended" in kinds and "app.restored" in kinds
        assert "slot.crashed" not in kinds and "app.crashed" not in kinds  # a clean stop
        repaired = [e["message"] for e in events if e["kind"] == "site.repaired"]
        assert not [m for m in repaired if "switch" in m], repaired  # it waited for the slot
        listed = json.loads(deployctl(dev.socket, "users", "list", "--json").stdout)
        assert "keeper" in {u["name"] for u in listed["users"]}
        devdb = json.loads(deployctl(dev.socket, "db", "show", "devdb", "--json").stdout)
        assert devdb["reachable"] and devdb["size_bytes"] > 0  # started with the daemon
    finally:
        assert again.stop() == 0
    wait_for(lambda: not postgres_running(dev.root))
    wait_for(lambda: not postgres_running(dev.root, "apps-pg"))


def test_a_daemon_killed_hard_leaves_postgres_to_be_adopted(base: Path) -> None:
    root = base / "crash"
    first = start_daemon(["dev", "--root", str(root)], root)
    first.stop(signal.SIGKILL)
    assert postgres_running(root)  # kill -9 could not stop it
    second = start_daemon(["dev", "--root", str(root)], root)  # stale lock and socket
    try:
        assert deployctl(second.socket, "status").returncode == 0
    finally:
        second.stop()
    wait_for(lambda: not postgres_running(root))


def test_version_is_instant_and_needs_no_daemon() -> None:
    result = subprocess.run([str(BIN / "deployctl"), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("deployctl ")
    probe = subprocess.run(
        [str(BIN / "python"), "-X", "importtime", "-m", "deployctl.entry", "--version"],
        capture_output=True,
        text=True,
    )
    imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines()}
    assert not {"pydantic", "rich", "asyncio", "typer"} & imported


def test_admin_create_works_without_a_running_daemon(base: Path) -> None:
    root = base / "offline"
    first = start_daemon(["dev", "--root", str(root)], root)
    first.stop()
    created = subprocess.run(
        [str(BIN / "deployd"), "admin", "create", "ops", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    password = re.search(r"created admin ops with password (\S+)", created.stdout)
    assert password, created.stdout
    assert not postgres_running(root)  # started for the command, stopped after it
    again = start_daemon(["dev", "--root", str(root)], root)
    try:
        login = deployctl(again.socket, "login", "ops", "--password-stdin", input=password[1])
        assert login.returncode == 0, login.stderr
        audit = json.loads(deployctl(again.socket, "audit", "--json").stdout)["entries"]
        assert [(e["method"], e["target"]) for e in audit][:1] == [("admin.create", "ops")]
        assert deployctl(again.socket, "audit", "--verify").returncode == 0
    finally:
        again.stop()
    bad = subprocess.run(
        [str(BIN / "deployd"), "admin", "create", "Bad Name", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "invalid user name" in bad.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another account")
def test_a_failed_first_start_leaves_nothing_behind_and_a_later_one_keeps_its_state() -> None:
    base = world_readable_tempdir("deployd-first-")
    env = {**os.environ, "DEPLOYD_PG_USER": "no-such-account"}
    try:
        for root, kept in ((base / "fresh", False), (base / "used", True)):
            if kept:
                root.mkdir()
                (root / "notes.txt").write_text("mine\n")
            failed = subprocess.run(
                [str(BIN / "deployd"), "dev", "--root", str(root), "--no-example"],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert failed.returncode == 1 and "DEPLOYD_PG_USER" in failed.stderr
            assert "Traceback" not in failed.stderr
            assert root.exists() is kept
            if kept:
                assert (
                    sorted(p.name for p in root.iterdir())[:1] != []
                    and (root / "notes.txt").read_text() == "mine\n"
                )
            else:
                assert "removed" in failed.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
