"""install.sh on a fresh server with systemd as PID 1 (a test host in a container, with a
network of its own), and the systemd runtime under that real systemd: an app deployed on
it, hardened, its secrets masked in the journal, restarted when killed, back after a
reboot; a second install changes nothing; an uninstall keeps the apps' data.

The tests of this module run in order on one installed host (an install takes a minute).
Without a Docker Engine they are skipped, and fail under DEPLOYD_TEST_REQUIRE_ALL (CI)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.installed_host import CHECKOUT, InstalledHost, installed_host, require_host

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

APP = "envecho"
HOST = f"{APP}.localhost"
SECRET = "s3cr3t-t0ken-4f9a7c"
UNIT = f"deployd-{APP}.blue.web.1.service"


@pytest.fixture(scope="module")
def server() -> Iterator[InstalledHost]:
    require_host()
    with installed_host() as host:
        yield host


def processes(server: InstalledHost) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(server.deployctl("ps", APP, "--json").stdout)[
        "processes"
    ]
    return found


def web_pid(server: InstalledHost) -> int:
    (web,) = processes(server)
    assert web["state"] == "up", web
    return int(str(web["pid"]))


def test_help_and_wrong_options_change_nothing(tmp_path: Path) -> None:
    shown = subprocess.run(
        ["bash", str(CHECKOUT / "install.sh"), "--help"], capture_output=True, text=True
    )
    assert shown.returncode == 0 and "--uninstall" in shown.stdout and "--purge" in shown.stdout
    wrong = subprocess.run(
        ["bash", str(CHECKOUT / "install.sh"), "--frobnicate"], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "unknown option --frobnicate" in wrong.stderr
    elsewhere = subprocess.run(
        ["bash", str(CHECKOUT / "install.sh"), "--source", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert elsewhere.returncode == 1 and f"no deployd checkout at {tmp_path}" in elsewhere.stderr


def test_a_fresh_install_serves_the_admin_and_says_what_to_do_next(
    server: InstalledHost,
) -> None:
    first = server.first_install
    assert first is not None
    print(f"\ninstall.sh on a fresh host: {first.seconds:.1f} s")
    assert "deployctl apps create" in first.output  # what to do next
    # the admin's password, once on the terminal and never in the log
    said = first.output.split("shown once, not logged):\n", 1)[1].split()[0]
    assert len(said) >= 20
    log = server.run("cat", "/var/log/deployd/install.log").stdout
    assert "==> preflight" in log and "created role deployd_apps" in log
    assert said not in log
    assert server.run("stat", "-c", "%a", "/var/log/deployd/install.log").stdout.strip() == "600"

    status = json.loads(server.deployctl("status", "--json").stdout)
    assert status["mode"] == "serve" and status["version"] == "0.1.0"
    assert status["database"]["state"] == "ok" and status["host"]["systemd"] is True
    assert status["identity"]["role"] == "admin"

    # the layout self-update relies on
    assert server.run("readlink", "/opt/deployd/current").stdout.strip() == "versions/0.1.0"
    for command in ("deployd", "deployctl"):
        target = server.run("readlink", f"/usr/local/bin/{command}").stdout.strip()
        assert target == f"/opt/deployd/current/bin/{command}"
    exec_start = server.unit_property("deployd.service", "ExecStart")
    assert "path=/opt/deployd/current/bin/deployd" in exec_start, exec_start
    assert server.run("systemctl", "is-enabled", "deployd").stdout.strip() == "enabled"
    # secrets are root's alone; the vault key was made by the daemon
    modes = server.run(
        "stat", "-c", "%n %a %U", "/etc/deployd/deployd.toml", "/etc/deployd/secret.key"
    ).stdout.split("\n")
    assert modes[:2] == ["/etc/deployd/deployd.toml 600 root", "/etc/deployd/secret.key 600 root"]
    # Debian's default site is gone: deployd's baseline closes the connection of a request
    # for no app (nginx's 444) instead of showing nginx's welcome page
    assert server.run("test", "-e", "/etc/nginx/sites-enabled/default", check=False).returncode
    assert server.http("nobody.localhost").status == 444


def test_an_app_runs_on_the_systemd_runtime_behind_nginx(server: InstalledHost) -> None:
    server.copy_app(CHECKOUT / "tests" / "support" / "apps" / APP, f"/srv/{APP}")
    server.deployctl("apps", "create", APP, "--path", f"/srv/{APP}", "--runtime", "systemd")
    server.deployctl("env", "set", APP, f"API_TOKEN={SECRET}")
    started = time.monotonic()
    server.deployctl("deploy", APP)
    print(f"\nfirst deploy on the installed host: {time.monotonic() - started:.1f} s")

    reply = server.http(HOST)
    assert reply.status == 200 and json.loads(reply.body) == {"release": "1"}, reply
    assert reply.headers["X-Deployd-Release"] == "1"
    # a unit of the host's systemd, hardened, running the app as the app's own account
    assert server.run("systemctl", "is-active", UNIT).stdout.strip() == "active"
    for name, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
    }.items():
        assert server.unit_property(UNIT, name) == value, name
    owner = server.run("stat", "-c", "%U", f"/proc/{web_pid(server)}").stdout.strip()
    assert owner == f"deployd-{APP}"
    # the app printed its token: masked in deployd's logs and in the journal
    logs = server.deployctl("logs", APP, "-n", "50").stdout
    journal = server.run("journalctl", "--no-pager", "-u", UNIT).stdout
    for seen in (logs, journal):
        assert "starting with API_TOKEN=[masked:API_TOKEN]" in seen, seen
        assert "split token: [masked:API_TOKEN]" in seen, seen
        assert SECRET not in seen
    # `deployctl top` measures the unit's processes (its launcher and the app below it)
    top = json.loads(server.deployctl("top", "--json").stdout)
    (usage,) = [a for a in top["apps"] if a["app"] == APP]
    assert [p["name"] for p in usage["processes"]] == ["web.1"]
    assert usage["rss_bytes"] > 1024 * 1024, usage


def test_a_killed_main_process_is_brought_back(server: InstalledHost) -> None:
    before = web_pid(server)
    server.run("systemctl", "kill", "--signal=SIGKILL", "--kill-whom=main", UNIT)
    deadline = time.monotonic() + 60
    pid = before
    while time.monotonic() < deadline:
        states = processes(server)
        if states[0]["state"] == "up" and states[0]["pid"] != before:
            pid = int(str(states[0]["pid"]))
            break
        time.sleep(0.5)
    assert pid != before, processes(server)
    assert server.wait_for(HOST).status == 200
    assert server.run("systemctl", "is-active", UNIT).stdout.strip() == "active"


def test_after_a_reboot_the_daemon_and_the_app_come_back_by_themselves(
    server: InstalledHost,
) -> None:
    state = server.host.reboot()
    assert state in ("running", "degraded"), state
    started = time.monotonic()
    reply = server.wait_for(HOST, timeout=120)
    assert reply.status == 200, reply
    print(f"\nthe app answers {time.monotonic() - started:.1f} s after the host is up")
    assert server.run("systemctl", "is-active", "deployd").stdout.strip() == "active"
    assert server.run("systemctl", "is-active", UNIT).stdout.strip() == "active"
    failed = server.run("systemctl", "--failed", "--plain", "--no-legend").stdout
    assert failed.strip() == "", failed


def test_preflight_refuses_a_port_that_is_not_nginxs(server: InstalledHost) -> None:
    squatter = (
        "import socket, time\ns = socket.socket(socket.AF_INET6)\n"
        "s.bind(('::', 443)); s.listen(); time.sleep(600)"
    )
    server.run("systemd-run", "--unit=port-squatter", "python3", "-c", squatter)
    try:
        server.run(
            "python3",
            "-c",
            "import socket, time\nfor _ in range(100):\n"
            "    try: socket.create_connection(('127.0.0.1', 443), 1).close(); break\n"
            "    except OSError: time.sleep(0.1)",
        )
        refused = server.install(check=False)
    finally:
        server.run("systemctl", "stop", "port-squatter")
    assert refused.result.returncode == 1
    assert "preflight: port 443 is taken by python3" in refused.output, refused.output
    assert "==> packages" not in refused.output  # it stopped before changing anything


def test_a_second_install_changes_nothing_and_says_so(server: InstalledHost) -> None:
    before = server.snapshot()
    daemon, app = server.main_pid("deployd.service"), web_pid(server)
    again = server.install()
    print(f"\ninstall.sh on an installed host: {again.seconds:.1f} s")
    assert "nothing to do: deployd 0.1.0 is installed and running" in again.output, again.output
    after = server.snapshot()
    assert len(before) > 100
    assert [line for line in after if line not in before] == []
    assert before == after
    assert (server.main_pid("deployd.service"), web_pid(server)) == (daemon, app)


def test_an_interrupted_install_finishes_on_the_next_run(server: InstalledHost) -> None:
    # as if the run had stopped in the middle of installing deployd and its unit
    server.run("systemctl", "disable", "--now", "deployd")
    server.run(
        "rm", "/opt/deployd/versions/0.1.0/.installed", "/etc/systemd/system/deployd.service"
    )
    server.run("rm", "/opt/deployd/versions/0.1.0/bin/deployctl")
    finished = server.install()
    assert "removing the unfinished /opt/deployd/versions/0.1.0" in finished.output
    assert "starting deployd" in finished.output
    assert server.wait_for(HOST).status == 200
    assert (
        server.install()
        .output.rstrip()
        .endswith("nothing to do: deployd 0.1.0 is installed and running")
    )


def test_uninstall_removes_deployd_and_keeps_the_apps_data(server: InstalledHost) -> None:
    removed = server.install("--uninstall")
    assert "deployd is removed" in removed.output
    gone = ("/opt/deployd", "/usr/local/bin/deployctl", "/etc/systemd/system/deployd.service")
    for path in (*gone, f"/etc/systemd/system/{UNIT}", f"/etc/nginx/conf.d/deployd-{APP}.conf"):
        assert server.run("test", "-e", path, check=False).returncode == 1, path
    assert server.run("systemctl", "is-active", UNIT, check=False).stdout.strip() != "active"
    kept = ("/etc/deployd/secret.key", "/etc/deployd/deployd.toml", f"/var/lib/deployd/apps/{APP}")
    for path in kept:
        assert server.run("test", "-e", path, check=False).returncode == 0, path
    databases = server.run(
        "runuser", "-u", "postgres", "--", "psql", "-Atc", "SELECT datname FROM pg_database"
    ).stdout.split()
    assert "deployd" in databases
    # installing again brings the app back from what was kept
    server.install()
    assert server.wait_for(HOST).status == 200


def test_purge_removes_the_data_databases_and_accounts_too(server: InstalledHost) -> None:
    purged = server.install("--uninstall", "--purge")
    assert "dropped database deployd" in purged.output, purged.output
    for path in ("/etc/deployd", "/var/lib/deployd", "/var/log/deployd", "/opt/deployd"):
        assert server.run("test", "-e", path, check=False).returncode == 1, path
    roles = server.run(
        "runuser", "-u", "postgres", "--", "psql", "-Atc", "SELECT rolname FROM pg_roles"
    ).stdout.split()
    assert "deployd" not in roles and "deployd_apps" not in roles
    for account in (f"deployd-{APP}", "deployd"):
        assert server.run("getent", "passwd", account, check=False).returncode == 2, account
    assert server.run("getent", "group", "deployd", check=False).returncode == 2
    # nginx is the distribution's again: its default site answers
    assert "Welcome to nginx" in server.http("anything.localhost").body
