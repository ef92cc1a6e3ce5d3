"""The GitHub stand-in's webhooks, pull requests and git over HTTP behave as GitHub's:
signed deliveries a receiver can verify, redeliveries with the same delivery id, events
for pull requests from forks, and private clones that need the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.support.github.probe import Reply, http
from tests.support.github_standin import GitHubStandIn
from tests.support.waiting import wait_for


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path / "github") as standin:
        standin.add_user("octocat", name="The Octocat")
        standin.add_org("acme", members=["octocat"])
        yield standin
        assert standin.internal_errors == []


# webhooks


@dataclass
class Received:
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    answer: int = 200
    got: list[Received] = field(default_factory=list)

    def events(self, name: str) -> list[Received]:
        return [r for r in self.got if r.headers["X-GitHub-Event"] == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A small webhook receiver: records each request and answers `receiver.answer`."""
    record = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            record.got.append(Received(self.headers, body))
            self.send_response(record.answer)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/github"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


def verified(received: Received, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("X-Hub-Signature-256", ""))


def create_hook(gh: GitHubStandIn, token: str, repo: str, url: str, **config: str) -> Reply:
    body = {
        "name": "web",
        "active": True,
        "events": ["push", "pull_request"],
        "config": {"url": url, **config},
    }
    return http("POST", f"{gh.api_url}/repos/{repo}/hooks", token=token, data=body)


def test_a_push_delivers_a_signed_webhook(gh: GitHubStandIn, receiver: Receiver) -> None:
    gh.add_repo("acme/app", private=True)
    token = gh.issue_token("octocat")
    created = create_hook(gh, token, "acme/app", receiver.url, content_type="json", secret="s3cret")
    assert created.status == 201
    hook = created.json()
    assert hook["config"] == {
        "content_type": "json",
        "insecure_ssl": "0",
        "url": receiver.url,
        "secret": "********",
    }
    assert create_hook(gh, token, "acme/app", receiver.url).status == 422  # the same URL twice

    gh.wait_for_deliveries()
    [ping] = receiver.events("ping")
    assert verified(ping, "s3cret") and ping.json()["hook_id"] == hook["id"]

    before = gh.sha("acme/app", "main")
    after = gh.push(
        "acme/app", "main", {"app.py": "print(1)\n"}, message="Deploy me", pusher="octocat"
    )
    [push] = receiver.events("push")
    assert verified(push, "s3cret") and not verified(push, "other")
    assert push.headers["Content-Type"] == "application/json"
    assert push.headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert uuid.UUID(push.headers["X-GitHub-Delivery"])
    assert push.headers["X-GitHub-Hook-ID"] == str(hook["id"])
    payload = push.json()
    assert (payload["ref"], payload["before"], payload["after"]) == (
        "refs/heads/main",
        before,
        after,
    )
    assert payload["repository"]["full_name"] == "acme/app"
    assert payload["repository"]["clone_url"] == f"{gh.web_url}/acme/app.git"
    assert payload["repository"]["private"] is True
    assert (
        payload["head_commit"]["id"] == after and payload["head_commit"]["message"] == "Deploy me"
    )
    assert payload["head_commit"]["added"] == ["app.py"]
    assert payload["pusher"]["name"] == "octocat" and payload["sender"]["login"] == "octocat"
    assert payload["created"] is False and payload["deleted"] is False

    listed = http("GET", f"{gh.api_url}/repos/acme/app/hooks/{hook['id']}/deliveries", token=token)
    latest = listed.json()[0]  # newest first
    assert (latest["event"], latest["status_code"], latest["guid"]) == (
        "push",
        200,
        push.headers["X-GitHub-Delivery"],
    )
    assert latest["redelivery"] is False and latest["duration"] >= 0


def test_redelivery_repeats_the_same_delivery(gh: GitHubStandIn, receiver: Receiver) -> None:
    gh.add_repo("octocat/app")
    token = gh.issue_token("octocat")
    hook = create_hook(
        gh, token, "octocat/app", receiver.url, content_type="json", secret="k"
    ).json()
    receiver.answer = 500
    gh.push("octocat/app", "main", {"x": "1"})
    [failed] = gh.deliveries("octocat/app", event="push")
    assert (failed.status_code, failed.status) == (500, "Invalid HTTP Response: 500")
    assert gh.hooks("octocat/app")[0].last_response["code"] == 500

    receiver.answer = 200
    base = f"{gh.api_url}/repos/octocat/app/hooks/{hook['id']}/deliveries"
    again = http("POST", f"{base}/{failed.id}/attempts", token=token)
    assert again.status == 202
    wait_for(lambda: len(receiver.events("push")) == 2)
    first, second = receiver.events("push")
    assert first.headers["X-GitHub-Delivery"] == second.headers["X-GitHub-Delivery"]
    assert first.body == second.body and verified(second, "k")
    gh.wait_for_deliveries()
    newest = http("GET", base, token=token).json()[0]
    assert newest["redelivery"] is True and newest["guid"] == failed.guid
    assert newest["status_code"] == 200
    detail = http("GET", f"{base}/{newest['id']}", token=token).json()
    assert detail["request"]["payload"]["after"] == gh.sha("octocat/app", "main")


def test_hooks_are_listed_read_deleted_and_their_deliveries_paged_by_cursor(
    gh: GitHubStandIn, receiver: Receiver
) -> None:
    gh.add_repo("octocat/app")
    token = gh.issue_token("octocat")
    hooks = f"{gh.api_url}/repos/octocat/app/hooks"
    hook = create_hook(gh, token, "octocat/app", receiver.url, content_type="json").json()
    assert [h["id"] for h in http("GET", hooks, token=token).json()] == [hook["id"]]
    assert http("GET", f"{hooks}/{hook['id']}", token=token).json()["events"] == [
        "push",
        "pull_request",
    ]
    narrow = gh.issue_token("octocat", ["read:user"])
    assert http("GET", hooks, token=narrow).status == 404  # hooks want a hook or repo scope
    for n in range(3):
        gh.push("octocat/app", "main", {"n": str(n)})
    gh.wait_for_deliveries()  # and the ping

    first = http("GET", f"{hooks}/{hook['id']}/deliveries?per_page=3", token=token)
    assert [d["event"] for d in first.json()] == ["push", "push", "push"]
    next_url = first.headers["Link"].split(">")[0].lstrip("<")
    assert "cursor=" in next_url and "page=" not in next_url.replace("per_page", "")
    rest = http("GET", next_url, token=token)
    assert [d["event"] for d in rest.json()] == ["ping"] and "Link" not in rest.headers

    assert http("DELETE", f"{hooks}/{hook['id']}", token=token).status == 204
    assert http("GET", f"{hooks}/{hook['id']}", token=token).status == 404
    gh.push("octocat/app", "main", {"n": "after"})
    assert len(receiver.events("push")) == 3


def test_hooks_default_to_form_encoded_payloads(gh: GitHubStandIn, receiver: Receiver) -> None:
    gh.add_repo("octocat/app")
    create_hook(gh, gh.issue_token("octocat"), "octocat/app", receiver.url, secret="k")
    gh.push("octocat/app", "main", {"x": "1"})
    [push] = receiver.events("push")
    assert push.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verified(push, "k")  # signed over the raw (form) body
    assert json.loads(parse_qs(push.body.decode())["payload"][0])["ref"] == "refs/heads/main"


def test_pull_requests_from_a_fork_send_their_events(gh: GitHubStandIn, receiver: Receiver) -> None:
    gh.add_repo("acme/app", files={"app.py": "1"})
    token = gh.issue_token("octocat")
    create_hook(gh, token, "acme/app", receiver.url, content_type="json")
    fork = gh.fork("acme/app")
    first = gh.push(fork, "fix", {"app.py": "2"})
    number = gh.open_pull_request("acme/app", "fix", from_fork=True)
    [opened] = receiver.events("pull_request")
    assert opened.json()["action"] == "opened" and opened.json()["number"] == number
    pull = http("GET", f"{gh.api_url}/repos/acme/app/pulls/{number}", token=token).json()
    assert pull["head"]["repo"]["full_name"] == "forker/app" and pull["head"]["sha"] == first
    assert pull["head"]["repo"]["fork"] is True and pull["base"]["ref"] == "main"
    assert gh.sha("acme/app", f"refs/pull/{number}/head") == first

    second = gh.push(fork, "fix", {"app.py": "3"})
    sync = receiver.events("pull_request")[-1].json()
    assert (sync["action"], sync["before"], sync["after"]) == ("synchronize", first, second)
    assert sync["pull_request"]["head"]["sha"] == second
    assert receiver.events("push") == []  # the push went to the fork, whose hooks are none

    gh.close_pull_request("acme/app", number, merged=True)
    closed = receiver.events("pull_request")[-1].json()
    assert closed["action"] == "closed" and closed["pull_request"]["merged"] is True
    [merge_push] = receiver.events("push")
    assert merge_push.json()["after"] == closed["pull_request"]["merge_commit_sha"]


def test_forged_deliveries_are_sent_as_asked(gh: GitHubStandIn, receiver: Receiver) -> None:
    body = {"ref": "refs/heads/main"}
    gh.send_raw(receiver.url, body, secret="right")
    gh.send_raw(receiver.url, body, signature="sha256=" + "0" * 64)
    gh.send_raw(receiver.url, body)
    gh.send_raw(receiver.url, b"[1, 2, 3]", secret="right")
    answer = gh.send_raw(receiver.url, b"x" * (26 * 1024 * 1024), headers={"X-GitHub-Event": None})
    assert answer.status_code == 200
    good, wrong, unsigned, array, huge = receiver.got
    assert verified(good, "right") and not verified(wrong, "right")
    assert "X-Hub-Signature-256" not in unsigned.headers
    assert array.json() == [1, 2, 3] and verified(array, "right")
    assert len(huge.body) == 26 * 1024 * 1024 and "X-GitHub-Event" not in huge.headers


# git over HTTP


def git(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def bare_env(home: Path) -> dict[str, str]:
    """No prompts, no stored credentials: git gets a token only as the test hands it over."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }


def test_a_private_repository_is_cloned_with_the_token_and_refused_without(
    gh: GitHubStandIn, tmp_path: Path
) -> None:
    gh.add_repo("acme/secret", private=True, files={"app.py": "print('hi')\n"})
    gh.add_repo("acme/open", files={"README.md": "open\n"})
    token = gh.issue_token("octocat")
    askpass = tmp_path / "askpass"
    askpass.write_text(
        "#!/bin/sh\n"  # git asks for a user name, then the password: the token, from the env
        'case "$1" in Username*) echo x-access-token ;; *) echo "$DEPLOY_TOKEN" ;; esac\n'
    )
    askpass.chmod(0o700)
    env = bare_env(tmp_path)

    refused = git("clone", gh.clone_url("acme/secret"), "no", cwd=tmp_path, env=env)
    assert refused.returncode != 0 and not (tmp_path / "no").exists()

    wrong = env | {"GIT_ASKPASS": str(askpass), "DEPLOY_TOKEN": "ghp_" + "x" * 36}
    assert git("clone", gh.clone_url("acme/secret"), "bad", cwd=tmp_path, env=wrong).returncode != 0

    command = ["clone", gh.clone_url("acme/secret"), "secret"]
    cloned = git(
        *command, cwd=tmp_path, env=env | {"GIT_ASKPASS": str(askpass), "DEPLOY_TOKEN": token}
    )
    assert cloned.returncode == 0, cloned.stderr
    assert token not in " ".join(command)
    assert (tmp_path / "secret" / "app.py").read_text() == "print('hi')\n"

    public = git("clone", gh.clone_url("acme/open"), "open", cwd=tmp_path, env=env)
    assert public.returncode == 0, public.stderr

    requests = gh.git_requests
    private = [r for r in requests if r.repo == "acme/secret"]
    assert [r.status for r in private if not r.authorization_sent] == [401, 401, 401]
    assert {r.status for r in private if r.authorization_sent} >= {200, 401}
    assert all(r.login == "octocat" for r in private if r.status == 200)
    assert not any(r.authorization_sent for r in requests if r.repo == "acme/open")


def test_a_token_in_an_extra_header_from_the_environment_fetches_new_commits(
    gh: GitHubStandIn, tmp_path: Path
) -> None:
    gh.add_repo("octocat/app", private=True, files={"v": "1"})
    token = gh.issue_token("octocat")
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    env = bare_env(tmp_path) | {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }
    assert git("clone", gh.clone_url("octocat/app"), "app", cwd=tmp_path, env=env).returncode == 0
    new = gh.push("octocat/app", "main", {"v": "2"})
    fetched = git("pull", "--ff-only", cwd=tmp_path / "app", env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert git("rev-parse", "HEAD", cwd=tmp_path / "app", env=env).stdout.strip() == new
    assert all(r.authorization_sent and r.status == 200 for r in gh.git_requests)
    pushed = git("push", "origin", "HEAD:main", cwd=tmp_path / "app", env=env)
    assert pushed.returncode != 0  # the stand-in takes pushes through push() only
