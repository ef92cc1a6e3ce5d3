"""The secrets vault through `deployctl`: config versions, config releases, masking, keys."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import BIN, RunningDaemon, world_readable_tempdir
from tests.support.load import hammering

ENVECHO = Path(__file__).resolve().parents[1] / "support" / "apps" / "envecho"
TOKEN = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

AWKWARD = {
    "MULTI_LINE": "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----\n",
    "QUOTES": 'it\'s "quoted" and \\backslashed\\',
    "DOLLARS": "$HOME ${PATH} $(id) `id`",
    "EQUALS": "a=b==c",
    "UNICODE": "ünïcødé ☃ 日本語 \u2028",
    "BIG": "0123456789abcdef" * 4096,
    "EMPTY": "",
}
_names = itertools.count(1)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture
def envecho(platform: RunningDaemon) -> Iterator[str]:
    """A deployed copy of the env-echo app, under a name of its own."""
    source = world_readable_tempdir("deployd-envecho-") / "app"
    shutil.copytree(ENVECHO, source)
    source.chmod(0o755)
    name = f"echo{next(_names)}"
    ok(platform.deployctl("apps", "create", name, "--path", str(source)))
    yield name
    platform.deployctl("apps", "delete", name, "--yes")
    shutil.rmtree(source.parent, ignore_errors=True)


def app_env(daemon: RunningDaemon, app: str) -> dict[str, str]:
    status, _, body = fetch(daemon, app, "/env")
    assert status == 200, body
    env: dict[str, str] = json.loads(body)
    return env


def releases(daemon: RunningDaemon, app: str) -> list[dict[str, object]]:
    result = ok(daemon.deployctl("releases", app, "--json"))
    found: list[dict[str, object]] = json.loads(result.stdout)["releases"]
    return found


def test_awkward_values_reach_the_app_exactly(platform: RunningDaemon, envecho: str) -> None:
    args = [f"{k}={v}" for k, v in AWKWARD.items()]
    ok(platform.deployctl("env", "set", envecho, *args, "--no-restart"))
    ok(platform.deployctl("deploy", envecho))
    seen = app_env(platform, envecho)
    assert {k: seen.get(k) for k in AWKWARD} == AWKWARD
    revealed = json.loads(
        ok(platform.deployctl("env", "list", envecho, "--reveal", "--json")).stdout
    )
    assert {v["name"]: v["value"] for v in revealed["vars"]} == AWKWARD
    masked = json.loads(ok(platform.deployctl("env", "list", envecho, "--json")).stdout)
    assert all(v["value"] in ("****", v["value"][:4] + "…****") for v in masked["vars"])
    assert AWKWARD["BIG"][:20] not in platform.deployctl("env", "list", envecho).stdout


def test_a_change_is_a_config_release_of_the_same_build(
    platform: RunningDaemon, envecho: str
) -> None:
    ok(platform.deployctl("deploy", envecho))
    first = releases(platform, envecho)[0]
    result = ok(platform.deployctl("env", "set", envecho, f"API_TOKEN={TOKEN}", "GREETING=hi"))
    assert "the build of v" in result.stdout and "building" not in result.stdout
    latest = releases(platform, envecho)[0]
    assert latest["live"] and latest["version"] != first["version"]
    assert latest["commit"] == first["commit"] and latest["env_version"] == 1
    assert app_env(platform, envecho)["API_TOKEN"] == TOKEN

    ok(platform.deployctl("env", "unset", envecho, "GREETING"))
    assert "GREETING" not in app_env(platform, envecho)
    history = json.loads(ok(platform.deployctl("env", "history", envecho, "--json")).stdout)
    assert [(v["version"], v["set"], v["unset"], v["current"]) for v in history["versions"]] == [
        (2, [], ["GREETING"], True),
        (1, ["API_TOKEN", "GREETING"], [], False),
    ]
    assert TOKEN not in json.dumps(history)


def test_rollback_restores_the_config_the_release_ran_with(
    platform: RunningDaemon, envecho: str
) -> None:
    ok(platform.deployctl("env", "set", envecho, "MODE=first-mode"))  # nothing live: staged
    ok(platform.deployctl("deploy", envecho))
    ok(platform.deployctl("env", "set", envecho, "MODE=second-mode"))
    assert app_env(platform, envecho)["MODE"] == "second-mode"

    rolled = ok(platform.deployctl("rollback", envecho)).stdout
    assert "the config changed with this rollback" in rolled and "MODE changes" in rolled
    assert "first-mode" not in rolled and "second-mode" not in rolled  # names, never values
    assert app_env(platform, envecho)["MODE"] == "first-mode"
    listed = json.loads(ok(platform.deployctl("env", "list", envecho, "--json")).stdout)
    assert listed["version"] == listed["live_version"] == 1

    ok(platform.deployctl("env", "set", envecho, "MODE=third-mode", "--no-restart"))
    second = next(r for r in releases(platform, envecho) if not r["live"])
    ok(platform.deployctl("rollback", envecho, "--to", str(second["version"]), "--keep-env"))
    assert app_env(platform, envecho)["MODE"] == "third-mode"
    latest = releases(platform, envecho)[0]
    assert latest["live"] and latest["commit"] == second["commit"] and latest["env_version"] == 3


def test_no_restart_stages_the_change_for_the_next_deploy(
    platform: RunningDaemon, envecho: str
) -> None:
    ok(platform.deployctl("deploy", envecho))
    live = releases(platform, envecho)[0]["version"]
    result = ok(platform.deployctl("env", "set", envecho, "LATER=yes", "--no-restart", "--json"))
    assert json.loads(result.stdout)["job"] is None
    assert releases(platform, envecho)[0]["version"] == live and "LATER" not in app_env(
        platform, envecho
    )
    ok(platform.deployctl("deploy", envecho))
    assert app_env(platform, envecho)["LATER"] == "yes"


def test_bad_names_and_values_are_refused_and_change_nothing(
    platform: RunningDaemon, envecho: str
) -> None:
    for bad in (["lower=1"], ["PORT=1"], ["DEPLOYD_APP=x"], ["A-B=1"], ["1A=x"]):
        result = platform.deployctl("env", "set", envecho, *bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    result = platform.deployctl("env", "unset", envecho, "NEVER_SET")
    assert result.returncode == 2 and "not set" in result.stderr
    history = json.loads(ok(platform.deployctl("env", "history", envecho, "--json")).stdout)
    assert history["versions"] == []


def test_env_import_reads_dotenv_from_stdin_and_replace_drops_the_rest(
    platform: RunningDaemon, envecho: str
) -> None:
    ok(platform.deployctl("env", "set", envecho, "OLD=1", "KEEP=2", "--no-restart"))
    dotenv = 'export KEEP="kept value"\nNEW=\'single quoted\'\n# a comment\nMULTI="a\nb"\n'
    ok(platform.deployctl("env", "import", envecho, "-", "--replace", "--no-restart", input=dotenv))
    revealed = json.loads(
        ok(platform.deployctl("env", "list", envecho, "--reveal", "--json")).stdout
    )
    assert {v["name"]: v["value"] for v in revealed["vars"]} == {
        "KEEP": "kept value",
        "NEW": "single quoted",
        "MULTI": "a\nb",
    }


def test_a_viewer_cannot_reveal(platform: RunningDaemon, envecho: str) -> None:
    ok(platform.deployctl("env", "set", envecho, f"API_TOKEN={TOKEN}", "--no-restart"))
    ok(
        platform.deployctl(
            "users",
            "add",
            f"{envecho}-viewer",
            "--role",
            "viewer",
            "--password-stdin",
            input="a-long-password\n",
        )
    )
    token = json.loads(
        ok(platform.deployctl("users", "token", f"{envecho}-viewer", "--json")).stdout
    )["token"]
    as_viewer = {"DEPLOYD_TOKEN": token}
    listed = platform.deployctl("env", "list", envecho, "--json", env=as_viewer)
    assert listed.returncode == 0 and TOKEN not in listed.stdout
    denied = platform.deployctl("env", "list", envecho, "--reveal", env=as_viewer)
    assert denied.returncode == 1 and "deployer" in denied.stderr and TOKEN not in denied.stdout
    audit = ok(platform.deployctl("audit", "--json", "--limit", "5")).stdout
    assert '"env.reveal"' in audit and '"forbidden"' in audit


def test_secrets_are_masked_in_every_output(platform: RunningDaemon, envecho: str) -> None:
    ok(platform.deployctl("env", "set", envecho, f"API_TOKEN={TOKEN}", "--no-restart"))
    deploy = ok(platform.deployctl("deploy", envecho))
    assert "the build sees API_TOKEN=[masked:API_TOKEN]" in deploy.stdout  # streamed build
    release = releases(platform, envecho)[0]["version"]
    build_log = ok(platform.deployctl("logs", envecho, "--build", str(release))).stdout
    assert "API_TOKEN=[masked:API_TOKEN]" in build_log
    runtime = ok(platform.deployctl("logs", envecho, "-n", "50")).stdout
    assert "starting with API_TOKEN=[masked:API_TOKEN]" in runtime
    assert "split token: [masked:API_TOKEN]" in runtime  # written in two halves

    # an invalid ref echoes what was typed: the error, the event and the audit entry mask it
    bad = platform.deployctl("deploy", envecho, "--ref", f"..{TOKEN}")
    assert bad.returncode == 2 and "[masked:API_TOKEN]" in bad.stderr
    # a crash event carries the last log lines
    info = json.loads(ok(platform.deployctl("apps", "show", envecho, "--json")).stdout)
    live = next(s for s in info["slots"] if s["name"] == info["live_slot"])
    os.killpg(live["pid"], 9)
    events = ""
    for _ in range(100):
        events = ok(platform.deployctl("events", "--app", envecho, "--json")).stdout
        if "app.crashed" in events:
            break
        time.sleep(0.1)
    assert "app.crashed" in events and "[masked:API_TOKEN]" in events
    audit = ok(platform.deployctl("audit", "--json", "--limit", "50")).stdout

    log_dir = platform.root / "logs" / "apps" / envecho
    stored = "".join(p.read_text(errors="replace") for p in log_dir.glob("*.log*"))
    daemon_log = platform.output()
    for where, text in [
        ("deploy output", deploy.stdout),
        ("build log", build_log),
        ("runtime log", runtime),
        ("stored logs", stored),
        ("error", bad.stderr),
        ("events", events),
        ("audit", audit),
        ("daemon log", daemon_log),
    ]:
        assert TOKEN not in text, where
        assert TOKEN[: len(TOKEN) // 2] + "\n" not in text, where


def test_a_failed_config_release_reports_masked_and_the_old_one_keeps_serving(
    platform: RunningDaemon, envecho: str
) -> None:
    ok(platform.deployctl("env", "set", envecho, f"API_TOKEN={TOKEN}", "--no-restart"))
    ok(platform.deployctl("deploy", envecho))
    live = releases(platform, envecho)[0]["version"]
    failed = platform.deployctl("env", "set", envecho, "CRASH_AT_START=1", "--json")
    assert failed.returncode == 1
    assert "giving up, API_TOKEN=[masked:API_TOKEN]" in failed.stdout and TOKEN not in failed.stdout
    job = json.loads(failed.stdout)["job"]
    shown = ok(platform.deployctl("releases", envecho, "--json")).stdout
    assert TOKEN not in shown and json.loads(fetch(platform, envecho)[2])["release"] == str(live)
    assert job is not None


def test_values_are_never_on_a_command_line_and_the_env_file_is_private(
    platform: RunningDaemon, envecho: str
) -> None:
    ok(platform.deployctl("env", "import", envecho, "-", input=f"API_TOKEN={TOKEN}\n"))
    ok(platform.deployctl("deploy", envecho))
    for proc in psutil.process_iter(["cmdline"]):
        assert TOKEN not in " ".join(proc.info["cmdline"] or []), proc
    info = json.loads(ok(platform.deployctl("apps", "show", envecho, "--json")).stdout)
    env_file = platform.root / "data" / "apps" / envecho / f"{info['live_slot']}.web.1.env"
    mode = env_file.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600
    assert mode.st_uid == os.geteuid()  # the daemon's: not even the app can read it


def test_a_database_dump_reveals_no_secret(
    platform: RunningDaemon, envecho: str, pg_cluster: PrivateCluster
) -> None:
    ok(platform.deployctl("env", "set", envecho, f"API_TOKEN={TOKEN}", "--no-restart"))
    dump = subprocess.run(
        [str(pg_cluster.bindir / "pg_dump"), "-d", platform.env["DEPLOYD_DATABASE_URL"]],
        capture_output=True,
        check=True,
    ).stdout
    assert b"env_versions" in dump and TOKEN.encode() not in dump


def test_key_rotation_while_the_app_serves(platform: RunningDaemon, envecho: str) -> None:
    ok(platform.deployctl("env", "set", envecho, f"API_TOKEN={TOKEN}"))
    ok(platform.deployctl("deploy", envecho))
    key_file = platform.root / "secret.key"
    before = key_file.read_bytes()
    with hammering(lambda: fetch(platform, envecho)[0]) as tally:
        rotated = subprocess.run(
            [str(BIN / "deployd"), "keys", "rotate"],
            env={**os.environ, **platform.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        ok(platform.deployctl("env", "set", envecho, "AFTER=rotation"))  # the daemon follows
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted" in rotated.stdout
    assert tally.failures == [] and tally.served > 0
    after = key_file.read_bytes()
    assert after != before and len(after.split()) == 1
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    seen = app_env(platform, envecho)
    assert seen["API_TOKEN"] == TOKEN and seen["AFTER"] == "rotation"
