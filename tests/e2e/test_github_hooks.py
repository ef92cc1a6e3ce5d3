"""Push to deploy (issue 16), the whole path on loopback: the GitHub stand-in (GitHub's wire
protocol: OAuth device flow, REST, webhooks, git over smart HTTP for a private repository)
sends its webhooks to `deployd web`, which hands them to the daemon; deployctl connects,
lists deliveries, redelivers and disconnects; statuses and deployments come back to GitHub;
a pull request gets a preview app that goes when it closes; and every bad input is refused
and recorded without harm."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.e2e.test_github import CLIENT_ID, login
from tests.support.daemon import BIN, RunningDaemon, free_port, serve
from tests.support.github_standin import GitHubStandIn
from tests.support.waiting import wait_for

APP = """\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open("version.txt").read().strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "version": VERSION,
            "app": os.environ.get("DEPLOYD_APP"),
            "greeting": os.environ.get("GREETING"),
            "secret": os.environ.get("PAYMENT_KEY"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
FILES = {
    "Procfile": "web: python3 -u app.py\n",
    "app.py": APP,
    "version.txt": "one\n",
    "deployd.toml": '[health]\npath = "/"\ninterval = 0.1\npasses = 1\n\n[deploy]\ndrain = 0.2\n',
}
REPO = "octocat/shop"
PREVIEW_TTL = 40
"""Seconds a preview lives without a push (the reaper looks every TTL / 4)."""


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path_factory.mktemp("github"), device_interval=1) as standin:
        standin.add_user("octocat")
        standin.add_oauth_app(CLIENT_ID)
        standin.add_repo(REPO, private=True, files=FILES)
        standin.add_repo("octocat/other", files={"README": "other\n"})
        yield standin
        assert standin.internal_errors == []


@pytest.fixture(scope="module")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def platform(
    pg_cluster: PrivateCluster, gh: GitHubStandIn, web_port: int
) -> Iterator[RunningDaemon]:
    pg_cluster.ensure_database("e2e_github_hooks")
    env = {
        "DEPLOYD_GITHUB_CLIENT_ID": CLIENT_ID,
        "DEPLOYD_GITHUB_API_URL": gh.api_url,
        "DEPLOYD_GITHUB_URL": gh.web_url,
        "DEPLOYD_GITHUB_HOOK_URL": f"http://127.0.0.1:{web_port}/hooks/github",
        "DEPLOYD_PREVIEW_TTL": str(PREVIEW_TTL),
    }
    try:
        with serve(pg_cluster.conninfo("e2e_github_hooks"), env) as running:
            yield running
    finally:
        pg_cluster.drop_database("e2e_github_hooks")


@pytest.fixture(scope="module")
def web(platform: RunningDaemon, web_port: int) -> Iterator[str]:
    """`deployd web`, as its unit runs it, on the daemon's socket."""
    process = subprocess.Popen(
        [str(BIN / "deployd"), "web", "--listen", "127.0.0.1", "--port", str(web_port),
         "--socket", str(platform.socket)],
        env=platform.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{web_port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(answers, timeout=30)
        yield f"{url}/hooks/github"
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
        print(f"--- deployd web ---\n{out}")


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


def served(platform: RunningDaemon, app: str) -> dict[str, Any] | None:
    status, _, body = fetch(platform, app)
    return json.loads(body) if status == 200 else None


def deliveries(platform: RunningDaemon, app: str = "shop") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = as_json(
        platform.deployctl("github", "deliveries", app, "--json", "--limit", "1000")
    )["deliveries"]
    return found


def post_hook(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    answer = httpx.post(url, content=body, headers=headers, timeout=30)
    return answer.status_code, answer.json()


def push_body(ref: str = "refs/heads/main", repo: str = REPO) -> dict[str, Any]:
    return {"ref": ref, "after": "a" * 40, "deleted": False, "repository": {"full_name": repo}}


def test_connect_makes_the_app_that_follows_the_private_repository_and_deploys_it(
    platform: RunningDaemon, gh: GitHubStandIn, web: str
) -> None:
    code, said = login(platform, gh)
    assert code == 0, said
    connected = ok(
        platform.deployctl(
            "github", "connect", "shop", REPO, "--previews", "--preview-exclude", "PAYMENT_KEY"
        )
    )
    assert "shop (a new app) follows octocat/shop (main, previews on)" in connected.stdout
    assert served(platform, "shop") == {
        "version": "one", "app": "shop", "greeting": None, "secret": None
    }  # fmt: skip
    (hook,) = gh.hooks(REPO)
    assert hook.url == web and set(hook.events) == {"push", "pull_request"} and hook.secret
    shown = as_json(platform.deployctl("github", "show", "shop", "--json"))
    assert shown["hook_id"] == hook.id and shown["preview_exclude"] == ["PAYMENT_KEY"]
    # the private repository was cloned with the token, which is nowhere on disk
    assert any(r.path.endswith("git-upload-pack") for r in gh.git_requests)
    tokens = [t.value for t in gh.world.tokens.values()]
    found = subprocess.run(
        ["grep", "-rlF", *[f"-e{t}" for t in tokens], str(platform.root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert found.stdout == "", found.stdout
    assert hook.secret not in json.dumps(shown)


def test_a_push_to_the_branch_deploys_it_and_github_is_told_how_it_went(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    sha = gh.push(REPO, "main", {"version.txt": "two\n"})
    wait_for(lambda: (served(platform, "shop") or {}).get("version") == "two", timeout=60)
    newest = deliveries(platform)[0]
    assert newest["event"] == "push" and newest["verdict"] == "deployed"
    assert newest["commit"] == sha and newest["job"] is not None
    wait_for(lambda: deliveries(platform)[0]["reported"] == "done", timeout=30)
    states = [s.state for s in gh.statuses(REPO, sha)]
    assert states[0] == "pending" and states[-1] == "success", states
    (deployment,) = [d for d in gh.deployments(REPO) if d.sha == sha]
    assert deployment.environment == "shop" and deployment.production_environment
    assert [s.state for s in deployment.statuses] == ["in_progress", "success"]
    assert deployment.statuses[-1].environment_url.startswith("http://shop.")


def test_pushes_in_a_row_end_with_the_last_one_live(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    """A push while a deploy runs waits for it; of those waiting, only the newest goes."""
    for number in range(4):
        gh.push(REPO, "main", {"version.txt": f"row{number}\n"})
    wait_for(lambda: (served(platform, "shop") or {}).get("version") == "row3", timeout=90)
    recent = [d for d in deliveries(platform) if d["event"] == "push"][:4]
    assert all(d["verdict"] in ("deployed", "ignored") for d in recent), recent
    assert recent[0]["verdict"] == "deployed"
    time.sleep(1)
    assert served(platform, "shop")["version"] == "row3"  # type: ignore[index]
    gh.push(REPO, "main", {"version.txt": "two\n"})
    wait_for(lambda: (served(platform, "shop") or {}).get("version") == "two", timeout=60)


def test_pushes_elsewhere_and_pings_are_recorded_and_deploy_nothing(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    before = len(as_json(platform.deployctl("releases", "shop", "--json"))["releases"])
    gh.push(REPO, "feature/x", {"x.txt": "x\n"}, start_point="main")
    (hook,) = gh.hooks(REPO)
    pinged = httpx.post(f"{gh.api_url}/repos/{REPO}/hooks/{hook.id}/pings", headers={
        "Authorization": f"token {next(iter(gh.world.tokens.values())).value}"
    })  # fmt: skip
    assert pinged.status_code == 204
    gh.wait_for_deliveries()
    reasons = [(d["event"], d["verdict"], d["reason"]) for d in deliveries(platform)[:2]]
    assert ("push", "ignored", "a push to feature/x, not main") in reasons
    assert any(event == "ping" and verdict == "ignored" for event, verdict, _ in reasons)
    time.sleep(1)
    assert len(as_json(platform.deployctl("releases", "shop", "--json"))["releases"]) == before


def test_forged_replayed_oversized_and_malformed_deliveries_are_refused_and_recorded(
    platform: RunningDaemon, gh: GitHubStandIn, web: str
) -> None:
    (hook,) = gh.hooks(REPO)
    assert hook.secret is not None
    named = {"X-GitHub-Hook-ID": str(hook.id)}
    forged = gh.send_raw(web, push_body(), signature="sha256=" + "0" * 64, headers=named)
    assert forged.status_code == 401
    unsigned = gh.send_raw(web, push_body(), headers=named)
    assert unsigned.status_code == 401
    said = [(d["verdict"], d["reason"]) for d in deliveries(platform)[:2]]
    assert said == [("rejected", "no signature: no connected app's secret signs it"),
                    ("rejected", "bad signature: no connected app's secret signs it")]  # fmt: skip
    events = as_json(platform.deployctl("events", "--kind", "github", "--json"))["events"]
    refused = [e["message"] for e in events if e["kind"] == "github.hook_rejected"]
    assert len(refused) == 1 and "bad signature" in refused[0]  # at most one a minute
    for _ in range(50):  # a flood of forged ones never pushes out the signed history
        gh.send_raw(web, push_body(), signature="sha256=" + "1" * 64, headers=named)
    assert any(d["verdict"] == "deployed" for d in deliveries(platform))
    weird = gh.send_raw(web, push_body(), signature="sha256=" + "é" * 64, headers=named)
    assert weird.status_code == 401

    # a delivery GitHub really sent, sent again by someone who recorded it
    real = gh.deliveries(REPO, event="push")[-1]
    replayed = gh.send_raw(web, real.request_body, secret=hook.secret, guid=real.guid)
    assert replayed.status_code == 200 and json.loads(replayed.body)["verdict"] == "duplicate"
    renamed = gh.send_raw(web, real.request_body, secret=hook.secret)  # a new delivery id
    assert renamed.status_code == 200 and json.loads(renamed.body)["verdict"] == "duplicate"

    # hostile branch names never reach git
    for ref in ("refs/heads/$(touch /tmp/owned)", "refs/heads/../../etc", "refs/tags/v1"):
        answer = gh.send_raw(web, push_body(ref), secret=hook.secret)
        assert answer.status_code == 200 and json.loads(answer.body)["verdict"] == "ignored"

    for raw, why in ((b"[1, 2]", "not an object"), (b"{not json", "not JSON")):
        signed = gh.send_raw(web, raw, secret=hook.secret)
        assert signed.status_code == 400 and why in json.loads(signed.body)["reason"]
        status, _ = post_hook(web, raw, {"X-GitHub-Event": "push"})
        assert status == 401  # unsigned: not even read
    other = gh.send_raw(web, push_body(repo="octocat/other"), secret=hook.secret)
    assert other.status_code == 404 and "no app is connected" in json.loads(other.body)["reason"]


def test_a_body_larger_than_github_sends_is_refused_before_it_is_read(web: str) -> None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(web)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: push\r\nContent-Length: 31457280\r\n\r\n"
        )
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413"), answer


def test_a_pull_request_gets_a_preview_that_goes_when_it_closes(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    ok(platform.deployctl("env", "set", "shop", "GREETING=hi", "PAYMENT_KEY=sk_live_1"))
    gh.push(REPO, "feature/y", {"version.txt": "pr\n"}, start_point="main")
    number = gh.open_pull_request(REPO, "feature/y")
    preview = f"shop-pr-{number}"
    wait_for(lambda: (served(platform, preview) or {}).get("version") == "pr", timeout=90)
    assert served(platform, preview) == {
        "version": "pr", "app": preview, "greeting": "hi", "secret": None
    }  # fmt: skip
    assert as_json(platform.deployctl("github", "show", "shop", "--json"))["preview_apps"] == [
        preview
    ]
    head = gh.push(REPO, "feature/y", {"version.txt": "pr2\n"})
    wait_for(lambda: (served(platform, preview) or {}).get("version") == "pr2", timeout=60)
    wait_for(lambda: [s.state for s in gh.statuses(REPO, head)][-1:] == ["success"], timeout=30)
    assert served(platform, "shop")["version"] == "two"  # type: ignore[index]
    gh.close_pull_request(REPO, number)

    def gone() -> bool:
        names = [a["name"] for a in as_json(platform.deployctl("apps", "list", "--json"))["apps"]]
        return preview not in names

    wait_for(gone, timeout=60)
    events = as_json(platform.deployctl("events", "--kind", "github", "--json"))["events"]
    kinds = [e["kind"] for e in events]
    assert "github.preview_created" in kinds and "github.preview_removed" in kinds


def test_a_preview_whose_close_never_came_is_reaped_after_its_ttl(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    gh.push(REPO, "feature/z", {"version.txt": "forgotten\n"}, start_point="main")
    number = gh.open_pull_request(REPO, "feature/z")
    preview = f"shop-pr-{number}"
    wait_for(lambda: (served(platform, preview) or {}).get("version") == "forgotten", timeout=90)
    made = time.monotonic()

    def reaped() -> bool:
        names = [a["name"] for a in as_json(platform.deployctl("apps", "list", "--json"))["apps"]]
        return preview not in names

    wait_for(reaped, timeout=PREVIEW_TTL * 2 + 30)
    assert time.monotonic() - made >= PREVIEW_TTL - 10  # not before its time


def test_redeliver_has_github_send_a_delivery_again_and_it_is_acted_on(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    pushed = next(
        d for d in deliveries(platform) if d["event"] == "push" and d["verdict"] == "deployed"
    )
    said = ok(platform.deployctl("github", "redeliver", "shop", pushed["delivery"]))
    assert "again" in said.stdout

    def acted() -> bool:
        again = [d for d in deliveries(platform) if d["delivery"] == pushed["delivery"]]
        return (
            len(again) >= 2 and again[0]["verdict"] == "deployed" and again[0]["id"] > pushed["id"]
        )

    wait_for(acted, timeout=60)
    refused = platform.deployctl("github", "redeliver", "shop", "0" * 36)
    assert refused.returncode == 1 and "no delivery" in refused.stderr


def test_two_apps_follow_one_repository_on_two_branches(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    """They share its one webhook (and secret): a push deploys the app of its branch."""
    gh.push(REPO, "develop", {"version.txt": "staging\n"}, start_point="main")
    ok(platform.deployctl("github", "connect", "staging", REPO, "--branch", "develop"))
    assert len(gh.hooks(REPO)) == 1
    assert (served(platform, "staging") or {}).get("version") == "staging"
    gh.push(REPO, "develop", {"version.txt": "staging2\n"})
    wait_for(lambda: (served(platform, "staging") or {}).get("version") == "staging2", timeout=60)
    gh.push(REPO, "main", {"version.txt": "three\n"})
    wait_for(lambda: (served(platform, "shop") or {}).get("version") == "three", timeout=60)
    assert (served(platform, "staging") or {}).get("version") == "staging2"
    said = ok(platform.deployctl("github", "disconnect", "staging"))
    assert "shared with another app: kept" in said.stdout and len(gh.hooks(REPO)) == 1


def test_disconnect_removes_the_webhook_on_github(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    said = ok(platform.deployctl("github", "disconnect", "shop"))
    assert "removed the webhook" in said.stdout
    assert gh.hooks(REPO) == []
    gone = platform.deployctl("github", "show", "shop")
    assert gone.returncode == 1 and "not connected" in gone.stderr
    assert served(platform, "shop") is not None  # the app stays


def test_deleting_an_app_removes_its_webhook_on_github(
    platform: RunningDaemon, gh: GitHubStandIn
) -> None:
    ok(platform.deployctl("github", "connect", "other", "octocat/other", "--no-deploy"))
    assert len(gh.hooks("octocat/other")) == 1
    ok(platform.deployctl("apps", "delete", "other", "--yes"))
    assert gh.hooks("octocat/other") == []
