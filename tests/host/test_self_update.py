"""Self-update on an installed server (a systemd test host after install.sh): to a newer
version whose migration is applied, to a broken one that is put back by itself, to one
whose migration the running version could not live with (refused before anything changes)
and back with --rollback; two apps answer throughout, and not one request fails.

Versions come from a git repository made from this checkout, one tag per version
(tests/support/versions.py), the way `DEPLOYD_UPDATE_SOURCE` names deployd's own."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployd import __version__
from tests.support.installed_host import CHECKOUT, InstalledHost, installed_host, unavailable
from tests.support.versions import bumped, repository

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

GOOD = bumped(__version__)
BROKEN = bumped(GOOD)
CONTRACTING = bumped(BROKEN)
APPS = {"one": "process", "two": "systemd"}
"""An app on each runtime that outlives the daemon in its own way: processes in sessions of
their own (KillMode=process), units of their own."""
LOOP = r"""
import json, os, sys, time, urllib.request
hosts, out, stop = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
ok = failed = 0
errors = []
while not os.path.exists(stop):
    for host in hosts:
        request = urllib.request.Request("http://127.0.0.1/", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                reply.read()
                ok += reply.status == 200
                failed += reply.status != 200
        except Exception as exc:
            failed += 1
            errors.append(f"{time.time():.1f} {host}: {exc!r}"[:300])
    time.sleep(0.02)
with open(out + ".tmp", "w") as fh:
    json.dump({"ok": ok, "failed": failed, "errors": errors[:20]}, fh)
os.rename(out + ".tmp", out)
"""


def versions(base: Path) -> dict[str, dict[str, str]]:
    main = (CHECKOUT / "deployd" / "__main__.py").read_text()
    serve = '    _run(load_settings(), "serve")'
    assert serve in main
    return {
        GOOD: {"migrations/0999_update_probe.sql": "CREATE TABLE update_probe (x int);\n"},
        BROKEN: {
            "deployd/__main__.py": main.replace(serve, '    raise SystemExit("broken on purpose")')
        },
        CONTRACTING: {
            "migrations/0998_contract_probe.sql": "ALTER TABLE apps DROP COLUMN notes;\n"
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledHost]:
    why = unavailable()
    if why is not None:
        if os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"):
            pytest.fail(f"{why}, and DEPLOYD_TEST_REQUIRE_ALL is set")
        pytest.skip(why)
    bare = repository(tmp_path_factory.mktemp("versions"), versions(CHECKOUT))
    with installed_host() as host:
        subprocess.run(
            ["docker", "cp", str(bare), f"{host.host.name}:/srv/deployd.git"], check=True
        )
        _pip_like_here(host)
        host.run(
            "sh",
            "-c",
            "echo 'update_source = \"file:///srv/deployd.git\"' >> /etc/deployd/deployd.toml",
        )
        host.run("systemctl", "restart", "deployd")
        _wait_for_daemon(host, __version__)
        for app, runtime in APPS.items():
            host.copy_app(CHECKOUT / "examples" / "hello", f"/srv/{app}")
            host.deployctl("apps", "create", app, "--path", f"/srv/{app}", "--runtime", runtime)
            host.deployctl("deploy", app, timeout=600)
            assert host.wait_for(f"{app}.localhost").status == 200
        host.run("sh", "-c", "cat > /root/loop.py", input=LOOP)
        hosts = ",".join(f"{app}.localhost" for app in APPS)
        subprocess.run(
            [
                "docker",
                "exec",
                "-d",
                host.host.name,
                "python3",
                "/root/loop.py",
                hosts,
                "/root/loop.json",
                "/root/loop.stop",
            ],
            check=True,
        )
        yield host


def _pip_like_here(host: InstalledHost) -> None:
    """The daemon runs pip under systemd, without the test's environment: the same index,
    CA and wheels go into pip's own config file."""
    lines = ["[global]"]
    names = {"PIP_CERT": "cert", "PIP_INDEX_URL": "index-url", "PIP_FIND_LINKS": "find-links"}
    lines += [f"{names[k]} = {v}" for k, v in host.host.env.items() if k in names]
    host.run("sh", "-c", "cat > /etc/pip.conf", input="\n".join(lines) + "\n")


def _status(host: InstalledHost) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(host.deployctl("status", "--json").stdout)
    return found


def _wait_for_daemon(host: InstalledHost, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answered = host.deployctl("status", "--json", check=False)
        if answered.returncode == 0 and json.loads(answered.stdout)["version"] == version:
            return
        time.sleep(0.5)
    raise AssertionError(f"deployd {version} did not answer within {timeout} s")


def _self_update(host: InstalledHost, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = host.deployctl("self-update", *args, check=False, timeout=900)
    return done, time.monotonic() - started


def test_check_offers_the_newest_tag(server: InstalledHost) -> None:
    check = json.loads(server.deployctl("self-update", "--check", "--json").stdout)
    assert check["running"] == __version__ and check["installed"] is True
    assert check["newest"] == CONTRACTING and check["target"] == CONTRACTING


def test_an_update_installs_migrates_and_switches(server: InstalledHost) -> None:
    done, seconds = _self_update(server, "--to", GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deployd {GOOD} runs (was {__version__})" in done.stdout
    status = _status(server)
    assert status["version"] == GOOD
    assert status["installed_versions"] == [__version__, GOOD]
    update = status["update"]
    assert isinstance(update, dict) and update["step"] == "done"
    assert server.run("test", "-s", str(update["backup"]), check=False).returncode == 0
    probe = server.run(
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-tAc",
        "SELECT expand FROM schema_migrations WHERE name = '0999_update_probe.sql'",
        "deployd",
    )
    assert probe.stdout.strip() == "t"
    unit = server.run("systemctl", "cat", "deployd-two.blue.web.1.service").stdout
    assert "ExecStart=/opt/deployd/current/bin/python3 " in unit  # not a version's own
    print(f"\nself-update {__version__} → {GOOD}: {seconds:.1f} s")


def test_a_version_that_does_not_start_is_put_back_by_itself(server: InstalledHost) -> None:
    done, seconds = _self_update(server, "--to", BROKEN)
    assert done.returncode == 1
    assert f"deployd {BROKEN} did not start (broken on purpose); back on {GOOD}" in done.stderr
    status = _status(server)
    assert status["version"] == GOOD
    assert server.run("readlink", "/opt/deployd/current").stdout.strip() == f"versions/{GOOD}"
    print(f"\nself-update to a broken {BROKEN} and back: {seconds:.1f} s")


def test_a_migration_the_running_version_cannot_live_with_is_refused(
    server: InstalledHost,
) -> None:
    done, _ = _self_update(server, "--to", CONTRACTING)
    assert done.returncode == 1
    assert "0998_contract_probe.sql, which drops" in done.stderr
    status = _status(server)
    assert status["version"] == GOOD
    assert CONTRACTING not in status["installed_versions"]  # the install was removed


def test_rollback_returns_to_the_previous_version_on_the_expanded_schema(
    server: InstalledHost,
) -> None:
    done, seconds = _self_update(server, "--rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _status(server)["version"] == __version__
    listed = server.deployctl("events", "--json", "--limit", "50", "--kind", "deployd")
    kinds = {event["kind"] for event in json.loads(listed.stdout)["events"]}
    assert {"deployd.updated", "deployd.update_rolled_back", "deployd.update_failed"} <= kinds
    print(f"\nself-update --rollback {GOOD} → {__version__}: {seconds:.1f} s")


def test_the_apps_answered_every_request_throughout(server: InstalledHost) -> None:
    server.run("touch", "/root/loop.stop")
    deadline = time.monotonic() + 30
    while server.run("test", "-e", "/root/loop.json", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the client loop did not stop"
        time.sleep(0.5)
    result = json.loads(server.run("cat", "/root/loop.json").stdout)
    print(f"\nrequests during the updates: {result['ok']} ok, {result['failed']} failed")
    assert result["ok"] > 100
    assert result["failed"] == 0, result["errors"]
