"""`deployctl github ...` against a running daemon and the GitHub stand-in (which speaks
GitHub's wire protocol on loopback): log in with the device flow, list repositories and
branches, and the refusals a user can act on."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deployd.store.cluster import PrivateCluster
from tests.support.daemon import BIN, RunningDaemon, serve
from tests.support.github_standin import GitHubStandIn
from tests.support.sql import one

CLIENT_ID = "Ov23liTestDeployd01"


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path_factory.mktemp("github"), device_interval=1) as standin:
        standin.add_user("octocat")
        standin.add_org("acme", members=["octocat"])
        standin.add_oauth_app(CLIENT_ID)
        standin.add_repo("octocat/shop", private=True, files={"README": "shop\n"})
        standin.add_repo("octocat/blog", files={"README": "blog\n"})
        for number in range(3):
            standin.add_repo(f"acme/tool{number}", private=number == 0)
        standin.push("octocat/shop", "feature/x", {"x.txt": "x\n"}, start_point="main")
        yield standin
        assert standin.internal_errors == []


@pytest.fixture(scope="module")
def platform(pg_cluster: PrivateCluster, gh: GitHubStandIn) -> Iterator[RunningDaemon]:
    pg_cluster.ensure_database("e2e_github")
    env = {
        "DEPLOYD_GITHUB_CLIENT_ID": CLIENT_ID,
        "DEPLOYD_GITHUB_API_URL": gh.api_url,
        "DEPLOYD_GITHUB_URL": gh.web_url,
    }
    try:
        with serve(pg_cluster.conninfo("e2e_github"), env) as running:
            yield running
    finally:
        pg_cluster.drop_database("e2e_github")


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def login(platform: RunningDaemon, gh: GitHubStandIn, *, approve: bool = True) -> tuple[int, str]:
    """`deployctl github login --json` as a person runs it: read the code, say yes (or no)."""
    process = subprocess.Popen(
        [str(BIN / "deployctl"), "--socket", str(platform.socket), "github", "login", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    assert first["verification_uri"] == f"{gh.web_url}/login/device"
    if approve:
        gh.approve(first["user_code"])
    else:
        gh.deny(first["user_code"])
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


def test_before_login_the_user_is_told_to_log_in(platform: RunningDaemon) -> None:
    status = json.loads(ok(platform.deployctl("github", "status", "--json")).stdout)
    assert status["login"] is None and status["client_id"] == CLIENT_ID
    refused = platform.deployctl("github", "repos")
    assert refused.returncode == 1
    assert "run `deployctl github login`" in refused.stderr


def test_a_denied_login_says_so_and_stores_nothing(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    code, said = login(platform, gh, approve=False)
    assert code == 1 and "denied" in said, said
    status = json.loads(ok(platform.deployctl("github", "status", "--json")).stdout)
    assert status["login"] is None


def test_login_then_repositories_and_branches(platform: RunningDaemon, gh: GitHubStandIn) -> None:
    code, said = login(platform, gh)
    assert code == 0, said
    assert '"state":"done"' in said and "octocat" in said
    status = json.loads(ok(platform.deployctl("github", "status", "--json")).stdout)
    assert status["login"] == "octocat" and status["logged_in_by"]
    repos = json.loads(ok(platform.deployctl("github", "repos", "--json")).stdout)["repos"]
    names = {repo["full_name"]: repo["private"] for repo in repos}
    assert names["octocat/shop"] is True and names["octocat/blog"] is False
    org = json.loads(ok(platform.deployctl("github", "repos", "--org", "acme", "--json")).stdout)
    assert {repo["full_name"] for repo in org["repos"]} == {f"acme/tool{n}" for n in range(3)}
    shown = ok(platform.deployctl("github", "branches", "octocat/shop")).stdout
    assert "main" in shown and "feature/x" in shown
    events = json.loads(ok(platform.deployctl("events", "--kind", "github", "--json")).stdout)
    assert [event["kind"] for event in events["events"]] == ["github.logged_in"]
    audit = ok(platform.deployctl("audit", "--json")).stdout
    assert "github.login" in audit


def test_the_token_is_stored_encrypted_and_never_shown(
    platform: RunningDaemon, gh: GitHubStandIn, pg_cluster: PrivateCluster
) -> None:
    if json.loads(ok(platform.deployctl("github", "status", "--json")).stdout)["login"] is None:
        assert login(platform, gh)[0] == 0
    tokens = [t.value for t in gh.world.tokens.values() if t.client_id == CLIENT_ID]
    assert tokens
    token = tokens[-1]
    with psycopg.connect(pg_cluster.conninfo("e2e_github")) as conn:
        stored = one(conn, "SELECT token FROM github_account")
    assert token not in stored
    for args in (("github", "status", "--json"), ("events", "--json"), ("audit", "--json")):
        assert token not in ok(platform.deployctl(*args)).stdout
    assert token not in platform.output()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("github", "branches", "octocat/../../etc"), "OWNER/NAME"),
        (("github", "branches", "octocat/nothing-here"), "has no repository octocat/nothing-here"),
        (("github", "repos", "--org", "-rf"), "organisation"),
    ],
)
def test_bad_input_is_refused_in_words(
    platform: RunningDaemon, gh: GitHubStandIn, args: tuple[str, ...], words: str
) -> None:
    if json.loads(ok(platform.deployctl("github", "status", "--json")).stdout)["login"] is None:
        assert login(platform, gh)[0] == 0
    refused = platform.deployctl(*args)
    assert refused.returncode in (1, 2), refused
    assert words.lower() in (refused.stdout + refused.stderr).lower()
    assert "Traceback" not in refused.stderr


def test_github_trouble_is_retried_and_then_said(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    if json.loads(ok(platform.deployctl("github", "status", "--json")).stdout)["login"] is None:
        assert login(platform, gh)[0] == 0
    gh.fail_next(1, status=502)
    ok(platform.deployctl("github", "repos"))  # one 502, then an answer
    gh.rate_limit_next(1)
    started = time.monotonic()
    limited = platform.deployctl("github", "repos")
    assert limited.returncode == 1 and "rate limit" in limited.stderr.lower()
    assert time.monotonic() - started < 30, "a spent rate limit is said, not slept through"


def test_a_viewer_may_not_log_in_or_list(platform: RunningDaemon, tmp_path: Path) -> None:
    ok(
        platform.deployctl(
            "users",
            "add",
            "ghviewer",
            "--role",
            "viewer",
            "--password-stdin",
            input="pw-1234567890\n",
        )
    )
    token = json.loads(ok(platform.deployctl("users", "token", "ghviewer", "--json")).stdout)[
        "token"
    ]
    token_file = tmp_path / "token"
    token_file.write_text(token)
    as_viewer = ["--token-file", str(token_file)]
    login_refused = platform.deployctl(*as_viewer, "github", "login")
    assert login_refused.returncode != 0 and "admin" in login_refused.stderr
    assert platform.deployctl(*as_viewer, "github", "repos").returncode != 0
    ok(platform.deployctl(*as_viewer, "github", "status"))
