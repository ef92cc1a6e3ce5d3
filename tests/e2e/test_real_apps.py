"""Apps as their authors wrote them for Heroku deploy unchanged (issue 11): real installs
from PyPI, console scripts from the virtualenv, the interpreter the app asks for."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon
from tests.support.repos import from_fixture, git, repository

FLASK_APP = """\
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return {"hello": "flask", "release": os.environ.get("DEPLOYD_RELEASE")}
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def test_a_flask_app_started_by_gunicorn_deploys_unchanged(
    platform: RunningDaemon, workdir: Path
) -> None:
    url = repository(
        workdir,
        "flasky",
        {
            "app.py": FLASK_APP,
            "requirements.txt": "flask>=3,<4\ngunicorn>=22\n",
            "Procfile": "web: gunicorn app:app\n",  # gunicorn binds $PORT itself
            ".python-version": "3.11\n",
        },
    )
    ok(platform.deployctl("apps", "create", "flasky", "--git", url))
    deployed = ok(platform.deployctl("deploy", "flasky"))
    assert "from .python-version (3.11)" in deployed.stdout
    status, _, body = fetch(platform, "flasky")
    assert status == 200 and json.loads(body)["hello"] == "flask"


FASTAPI_APP = """\
import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def index():
    return {"hello": "fastapi", "home": os.environ["HOME"], "cwd": os.getcwd()}
"""


def test_a_fastapi_app_started_by_uvicorn_deploys_unchanged(
    platform: RunningDaemon, workdir: Path
) -> None:
    url = repository(
        workdir,
        "fasty",
        {
            "main.py": FASTAPI_APP,
            "requirements.txt": "fastapi>=0.110\nuvicorn>=0.29\n",
            "Procfile": "web: uvicorn main:app --host 127.0.0.1 --port $PORT\n",
        },
    )
    ok(platform.deployctl("apps", "create", "fasty", "--git", url))
    ok(platform.deployctl("deploy", "fasty"))
    status, _, body = fetch(platform, "fasty")
    said = json.loads(body)
    assert status == 200 and said["hello"] == "fastapi"
    if os.geteuid() == 0:  # where Heroku and Dokku put an app
        assert said["home"] == said["cwd"] == "/app"


def test_a_python_the_host_lacks_fails_the_build_in_words(
    platform: RunningDaemon, workdir: Path
) -> None:
    url = repository(
        workdir,
        "futurist",
        {
            "app.py": FLASK_APP,
            "requirements.txt": "flask\n",
            "Procfile": "web: gunicorn app:app\n",
            "runtime.txt": "python-3.99.1\n",
        },
    )
    ok(platform.deployctl("apps", "create", "futurist", "--git", url))
    failed = platform.deployctl("deploy", "futurist")
    assert failed.returncode == 1
    assert "asks for Python python-3.99.1 (runtime.txt)" in failed.stderr
    assert "DEPLOYD_PYTHONS" in failed.stderr


def test_a_node_the_host_lacks_fails_the_build_in_words(
    platform: RunningDaemon, workdir: Path
) -> None:
    package = {"name": "x", "version": "1.0.0", "engines": {"node": ">=99"}}
    url = repository(
        workdir,
        "noder",
        {"package.json": json.dumps(package), "Procfile": "web: node index.js\n"},
    )
    ok(platform.deployctl("apps", "create", "noder", "--git", url))
    failed = platform.deployctl("deploy", "noder")
    assert failed.returncode == 1
    assert "asks for Node '>=99' (package.json engines.node)" in failed.stderr


@pytest.mark.parametrize(
    ("fixture", "decided", "serves"),
    [
        ("uvapp", ["uv.lock: installing with uv sync --locked"], {"six": "1.17.0"}),
        ("pipenvapp", ["Pipfile.lock: installing its pinned packages"], {"six": "1.17.0"}),
        (
            "djangoapp",
            ["manage.py: running collectstatic", "1 static file copied"],
            {"migrated": True, "collected": True},
        ),
        (
            "yarnapp",
            ["no Procfile: web runs `npm start`", "yarn.lock: installing with yarn"],
            {"hello": "node", "built": "yes"},
        ),
    ],
)
def test_an_app_deploys_as_its_author_wrote_it(
    platform: RunningDaemon,
    workdir: Path,
    fixture: str,
    decided: list[str],
    serves: dict[str, object],
) -> None:
    url = from_fixture(workdir, fixture)
    ok(platform.deployctl("apps", "create", fixture, "--git", url))
    deployed = ok(platform.deployctl("deploy", fixture))
    for words in decided:
        assert words in deployed.stdout, deployed.stdout
    status, _, body = fetch(platform, fixture)
    assert status == 200, body
    answer = json.loads(body)
    assert {key: answer[key] for key in serves} == serves


def test_app_json_scripts_health_check_and_formation_are_honoured(
    platform: RunningDaemon, workdir: Path
) -> None:
    url = from_fixture(workdir, "appjsonapp")
    ok(platform.deployctl("apps", "create", "appjson", "--git", url))
    first = ok(platform.deployctl("deploy", "appjson")).stdout
    assert "running app.json's predeploy script: echo pre > predeployed" in first
    assert "running app.json's first-deploy postdeploy script" in first
    assert "app.json's formation asks for worker=2" in first
    answer = json.loads(fetch(platform, "appjson")[2])
    assert answer["ran"] == {"predeployed": True, "postdeployed": True, "first-deploy": True}

    work = workdir / "appjsonapp"
    (work / "app.json").write_text(
        (work / "app.json").read_text().replace('"content": "alive"', '"content": "never said"')
    )
    git(work, "commit", "-qam", "a check the app cannot pass")
    git(work, "push", "-q", str(workdir / "appjsonapp.git"), "HEAD:main")
    failed = platform.deployctl("deploy", "appjson")
    assert failed.returncode == 1 and "answered without 'never said'" in failed.stderr
    assert "first-deploy postdeploy" not in failed.stdout
