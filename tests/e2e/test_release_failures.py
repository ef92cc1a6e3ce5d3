"""A release that does not go live says so: `failed`, the step, and why, with the step's
last lines of output (issue 11, findings 3 and 9). The live release keeps serving."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon
from tests.support.repos import Repo

FAST_HEALTH = "[health]\ninterval = 0.1\ntimeout = 5\npasses = 1\n"


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def newest(daemon: RunningDaemon, app: str) -> Any:
    return json.loads(ok(daemon.deployctl("releases", app, "--json")).stdout)["releases"][0]


@pytest.mark.parametrize(
    ("files", "step", "says"),
    [
        (
            {"Procfile": "web: echo cannot start, no config >&2; exit 3\n"},
            "health",
            ["exited with status 3", "cannot start, no config"],
        ),
        (
            {"Procfile": "web: python3 app.py\nrelease: echo migrating; echo boom >&2; exit 4\n"},
            "release",
            [
                "the release command failed",
                "`echo migrating; echo boom >&2; exit 4` exited with status 4",
                "  boom",
            ],
        ),
        (
            {"deployd.toml": FAST_HEALTH + '[build]\ncommand = "echo compiling; exit 7"\n'},
            "build",
            ["build step", "exited with status 7", "  compiling"],
        ),
    ],
)
def test_a_release_that_fails_says_where_and_why(
    platform: RunningDaemon, workdir: Path, files: dict[str, str], step: str, says: list[str]
) -> None:
    repo = Repo(workdir)
    name = f"fails-{step}"
    ok(platform.deployctl("apps", "create", name, "--git", repo.url))
    ok(platform.deployctl("deploy", name))
    live = newest(platform, name)["version"]
    repo.write("deployd.toml", FAST_HEALTH)
    for file, content in files.items():
        repo.write(file, content)
    repo.commit(f"breaks at {step}")
    failed = platform.deployctl("deploy", name)
    assert failed.returncode == 1
    release = newest(platform, name)
    assert (release["status"], release["failed_step"]) == ("failed", step)
    for words in says:
        assert words in release["error"], release["error"]
    assert "build step" not in release["error"] or step == "build"
    headline = release["error"].splitlines()[0]  # the command as the app wrote it
    assert "appmount" not in headline and "/bin/sh" not in headline, headline
    shown = ok(platform.deployctl("releases", name)).stdout
    assert f"failed ({step})" in shown
    assert json.loads(fetch(platform, name)[2])["release"] == str(live)


def test_a_build_log_holds_its_build_only(platform: RunningDaemon, workdir: Path) -> None:
    repo = Repo(workdir)
    repo.write("deployd.toml", FAST_HEALTH + '[build]\ncommand = "echo building this one"\n')
    repo.commit("with a build command")
    ok(platform.deployctl("apps", "create", "logged", "--git", repo.url))
    ok(platform.deployctl("deploy", "logged"))
    first = newest(platform, "logged")["version"]
    repo.write("VERSION", "2\n").commit("two")
    ok(platform.deployctl("deploy", "logged"))
    second = newest(platform, "logged")["version"]
    ok(platform.deployctl("rollback", "logged"))
    for release in (first, second):
        shown = ok(platform.deployctl("logs", "logged", "--build", str(release))).stdout
        assert "building this one" in shown
        assert "drains" not in shown and "starting v" not in shown, shown


def test_an_app_with_no_release_answers_503_saying_so(
    platform: RunningDaemon, workdir: Path
) -> None:
    repo = Repo(workdir)
    ok(platform.deployctl("apps", "create", "unborn", "--git", repo.url))
    status, headers, body = fetch(platform, "unborn")
    assert (status, body) == (503, "unborn is not deployed yet\n")
    assert headers["content-type"].startswith("text/plain")
    ok(platform.deployctl("deploy", "unborn"))
    status, _, body = fetch(platform, "unborn")
    assert status == 200 and json.loads(body)["app"] == "unborn"
