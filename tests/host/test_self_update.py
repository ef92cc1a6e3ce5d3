"""Self-update on an installed server (a systemd test host after install.sh): to a newer
version whose migration is applied, to a broken one that is put back by itself, to one
whose migration the running version could not live with (refused before anything changes)
and back with --rollback; two apps answer throughout, and not one request fails.

Versions come from a git repository made from this checkout, one tag per version
(tests/support/versions.py), the way `DEPLOYD_UPDATE_SOURCE` names deployd's own."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from deployd import __version__
from tests.support.installed_host import InstalledHost, require_host
from tests.support.updating import (
    BROKEN,
    CONTRACTING,
    GOOD,
    self_update,
    status,
    stop_loop,
    updatable_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def server() -> Iterator[InstalledHost]:
    require_host()
    with updatable_server() as host:
        yield host


def test_check_offers_the_newest_tag(server: InstalledHost) -> None:
    check = json.loads(server.deployctl("self-update", "--check", "--json").stdout)
    assert check["running"] == __version__ and check["installed"] is True
    assert check["newest"] == CONTRACTING and check["target"] == CONTRACTING


def test_an_update_installs_migrates_and_switches(server: InstalledHost) -> None:
    done, seconds = self_update(server, "--to", GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deployd {GOOD} runs (was {__version__})" in done.stdout
    found = status(server)
    assert found["version"] == GOOD
    assert found["installed_versions"] == [__version__, GOOD]
    update = found["update"]
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
    done, seconds = self_update(server, "--to", BROKEN)
    assert done.returncode == 1
    assert f"deployd {BROKEN} did not start (broken on purpose); back on {GOOD}" in done.stderr
    found = status(server)
    assert found["version"] == GOOD
    assert server.run("readlink", "/opt/deployd/current").stdout.strip() == f"versions/{GOOD}"
    print(f"\nself-update to a broken {BROKEN} and back: {seconds:.1f} s")


def test_a_migration_the_running_version_cannot_live_with_is_refused(
    server: InstalledHost,
) -> None:
    done, _ = self_update(server, "--to", CONTRACTING)
    assert done.returncode == 1
    assert "0998_contract_probe.sql, which drops" in done.stderr
    found = status(server)
    assert found["version"] == GOOD
    assert CONTRACTING not in found["installed_versions"]  # the install was removed


def test_rollback_returns_to_the_previous_version_on_the_expanded_schema(
    server: InstalledHost,
) -> None:
    done, seconds = self_update(server, "--rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert status(server)["version"] == __version__
    listed = server.deployctl("events", "--json", "--limit", "50", "--kind", "deployd")
    kinds = {event["kind"] for event in json.loads(listed.stdout)["events"]}
    assert {"deployd.updated", "deployd.update_rolled_back", "deployd.update_failed"} <= kinds
    print(f"\nself-update --rollback {GOOD} → {__version__}: {seconds:.1f} s")


def test_the_apps_answered_every_request_throughout(server: InstalledHost) -> None:
    counted = stop_loop(server)
    print(f"\nrequests during the updates: {counted.ok} ok, {counted.failed} failed")
    assert counted.ok > 100
    assert counted.failed == 0, counted.errors
