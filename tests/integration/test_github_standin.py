"""The GitHub stand-in behaves as GitHub does, on the wire: the device flow, the REST API's
auth, pages and limits, webhooks a receiver can verify, and git over HTTP with a token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode
from urllib.request import Request, urlopen

import pytest

from tests.support.github_standin import GitHubStandIn, OAuthApp
from tests.support.waiting import wait_for

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


def http(
    method: str,
    url: str,
    *,
    token: str | None = None,
    scheme: str = "token",
    data: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    sent = dict(headers or {})
    body = None
    if token is not None:
        sent["Authorization"] = f"{scheme} {token}"
    if data is not None:
        body, sent["Content-Type"] = json.dumps(data).encode(), "application/json"
    if form is not None:
        body = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        with urlopen(Request(url, body, sent, method=method), timeout=30) as answer:
            return Reply(answer.status, answer.headers, answer.read())
    except HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path / "github") as standin:
        standin.add_user("octocat", name="The Octocat")
        standin.add_org("acme", members=["octocat"])
        yield standin


@pytest.fixture
def app(gh: GitHubStandIn) -> OAuthApp:
    return gh.add_oauth_app()


# the device flow


def request_code(gh: GitHubStandIn, client_id: str, scope: str = "repo read:org") -> Reply:
    return http(
        "POST",
        f"{gh.web_url}/login/device/code",
        form={"client_id": client_id, "scope": scope},
        headers={"Accept": "application/json"},
    )


def poll(gh: GitHubStandIn, client_id: str, device_code: str) -> dict[str, Any]:
    reply = http(
        "POST",
        f"{gh.web_url}/login/oauth/access_token",
        form={"client_id": client_id, "device_code": device_code, "grant_type": DEVICE_GRANT},
        headers={"Accept": "application/json"},
    )
    assert reply.status == 200  # GitHub answers the polling errors with 200 too
    data: dict[str, Any] = reply.json()
    return data


def test_device_flow_pending_until_approved_then_a_token(gh: GitHubStandIn, app: OAuthApp) -> None:
    code = request_code(gh, app.client_id).json()
    assert set(code) == {"device_code", "user_code", "verification_uri", "expires_in", "interval"}
    assert re.fullmatch(r"[0-9a-f]{40}", code["device_code"])
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code["user_code"])
    assert code["verification_uri"] == f"{gh.web_url}/login/device"
    assert (code["expires_in"], code["interval"]) == (900, 5)

    first = poll(gh, app.client_id, code["device_code"])
    assert first["error"] == "authorization_pending"
    assert {"error_description", "error_uri"} <= set(first)

    gh.advance(5)
    gh.approve(code["user_code"].lower())  # the person types it in lower case
    token = poll(gh, app.client_id, code["device_code"])
    assert token["token_type"] == "bearer" and token["scope"] == "repo,read:org"
    assert token["access_token"].startswith("gho_") and "refresh_token" not in token

    me = http("GET", f"{gh.api_url}/user", token=token["access_token"], scheme="Bearer")
    assert me.status == 200 and me.json()["login"] == "octocat"
    assert me.headers["X-OAuth-Scopes"] == "repo, read:org"

    gh.advance(5)
    again = poll(gh, app.client_id, code["device_code"])
    assert again["error"] == "incorrect_device_code"  # a device code is good for one token


def test_device_flow_answers_form_encoded_unless_json_is_asked_for(
    gh: GitHubStandIn, app: OAuthApp
) -> None:
    reply = http("POST", f"{gh.web_url}/login/device/code", form={"client_id": app.client_id})
    assert reply.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    code = reply.form()
    assert code["interval"] == "5" and len(code["device_code"]) == 40
    pending = http(
        "POST",
        f"{gh.web_url}/login/oauth/access_token",
        form={
            "client_id": app.client_id,
            "device_code": code["device_code"],
            "grant_type": DEVICE_GRANT,
        },
    )
    assert pending.form()["error"] == "authorization_pending"


def test_polling_faster_than_the_interval_slows_down(gh: GitHubStandIn, app: OAuthApp) -> None:
    code = request_code(gh, app.client_id).json()
    assert poll(gh, app.client_id, code["device_code"])["error"] == "authorization_pending"
    too_soon = poll(gh, app.client_id, code["device_code"])
    assert (too_soon["error"], too_soon["interval"]) == ("slow_down", 10)
    gh.advance(6)  # the old interval has passed, the new one has not
    still = poll(gh, app.client_id, code["device_code"])
    assert (still["error"], still["interval"]) == ("slow_down", 15)
    gh.advance(15)
    assert poll(gh, app.client_id, code["device_code"])["error"] == "authorization_pending"


def test_device_codes_expire_and_can_be_denied(gh: GitHubStandIn, app: OAuthApp) -> None:
    expiring = request_code(gh, app.client_id).json()
    denied = request_code(gh, app.client_id).json()
    gh.deny(denied["user_code"])
    assert poll(gh, app.client_id, denied["device_code"])["error"] == "access_denied"
    gh.advance(900)
    assert poll(gh, app.client_id, expiring["device_code"])["error"] == "expired_token"
    with pytest.raises(ValueError, match="no longer pending"):
        gh.approve(expiring["user_code"])


def test_device_flow_refuses_unknown_clients_codes_and_grants(
    gh: GitHubStandIn, app: OAuthApp
) -> None:
    refused = request_code(gh, "Ov23li-not-registered")
    assert refused.status == 400 and refused.json()["error"] == "incorrect_client_credentials"
    code = request_code(gh, app.client_id).json()
    assert poll(gh, "Ov23li-other", code["device_code"])["error"] == "incorrect_client_credentials"
    assert poll(gh, app.client_id, "0" * 40)["error"] == "incorrect_device_code"
    wrong_grant = http(
        "POST",
        f"{gh.web_url}/login/oauth/access_token",
        form={"client_id": app.client_id, "device_code": code["device_code"]},
        headers={"Accept": "application/json"},
    )
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    disabled = gh.add_oauth_app(device_flow=False)
    assert request_code(gh, disabled.client_id).json()["error"] == "device_flow_disabled"


def test_expiring_user_tokens_are_refreshed(gh: GitHubStandIn) -> None:
    app = gh.add_oauth_app(expiring_tokens=True)
    code = request_code(gh, app.client_id).json()
    gh.approve(code["user_code"], "octocat")
    token = poll(gh, app.client_id, code["device_code"])
    assert token["access_token"].startswith("ghu_") and token["refresh_token"].startswith("ghr_")
    assert (token["expires_in"], token["refresh_token_expires_in"]) == (28800, 15811200)
    assert token["scope"] == ""

    gh.advance(28800)
    expired = http("GET", f"{gh.api_url}/user", token=token["access_token"])
    assert expired.status == 401 and expired.json()["message"] == "Bad credentials"

    refresh = {"client_id": app.client_id, "grant_type": "refresh_token"}
    fresh = http(
        "POST",
        f"{gh.web_url}/login/oauth/access_token",
        form=refresh | {"refresh_token": token["refresh_token"]},
        headers={"Accept": "application/json"},
    ).json()
    assert (
        fresh["access_token"].startswith("ghu_")
        and fresh["refresh_token"] != token["refresh_token"]
    )
    assert http("GET", f"{gh.api_url}/user", token=fresh["access_token"]).status == 200
    reused = http(
        "POST",
        f"{gh.web_url}/login/oauth/access_token",
        form=refresh | {"refresh_token": token["refresh_token"]},
        headers={"Accept": "application/json"},
    ).json()
    assert reused["error"] == "bad_refresh_token"


# the REST API


def test_tokens_are_checked_with_githubs_error_bodies(gh: GitHubStandIn) -> None:
    anonymous = http("GET", f"{gh.api_url}/user")
    assert anonymous.status == 401 and anonymous.json()["message"] == "Requires authentication"
    bad = http("GET", f"{gh.api_url}/repos/octocat/anything", token="gho_" + "x" * 36)
    assert bad.status == 401
    assert bad.json()["message"] == "Bad credentials" and "documentation_url" in bad.json()
    token = gh.issue_token("octocat")
    for scheme in ("token", "Bearer"):
        assert http("GET", f"{gh.api_url}/user", token=token, scheme=scheme).status == 200
    gh.revoke_token(token)
    assert http("GET", f"{gh.api_url}/user", token=token).status == 401


def test_private_repositories_are_hidden_without_access_or_the_repo_scope(
    gh: GitHubStandIn,
) -> None:
    gh.add_repo("octocat/open")
    gh.add_repo("octocat/secret", private=True)
    gh.add_user("stranger")
    full = gh.issue_token("octocat", ["repo"])
    narrow = gh.issue_token("octocat", ["read:user"])
    stranger = gh.issue_token("stranger", ["repo"])

    def names(token: str) -> list[str]:
        return [r["full_name"] for r in http("GET", f"{gh.api_url}/user/repos", token=token).json()]

    assert names(full) == ["octocat/open", "octocat/secret"]
    assert names(narrow) == ["octocat/open"]
    assert names(stranger) == []
    secret = http("GET", f"{gh.api_url}/repos/octocat/secret", token=full).json()
    assert secret["private"] is True and secret["visibility"] == "private"
    assert secret["permissions"]["admin"] is True
    assert secret["clone_url"] == f"{gh.web_url}/octocat/secret.git"
    assert http("GET", f"{gh.api_url}/repos/octocat/secret", token=stranger).status == 404
    assert http("GET", f"{gh.api_url}/repos/octocat/secret").status == 404
    assert http("GET", f"{gh.api_url}/repos/octocat/open").status == 200


def test_lists_are_paginated_with_link_headers(gh: GitHubStandIn) -> None:
    for n in range(7):
        gh.add_repo(f"octocat/repo-{n}", private=n % 2 == 1)
    token = gh.issue_token("octocat")
    first = http("GET", f"{gh.api_url}/user/repos?per_page=3", token=token)
    links = dict(
        (rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"])
    )
    assert set(links) == {"next", "last"}
    assert links["next"] == f"{gh.api_url}/user/repos?per_page=3&page=2"
    assert links["last"].endswith("page=3")
    seen = [r["full_name"] for r in first.json()]
    url: str | None = links["next"]
    while url:
        page = http("GET", url, token=token)
        seen += [r["full_name"] for r in page.json()]
        rels = dict((r, u) for u, r in re.findall(r'<([^>]+)>; rel="(\w+)"', page.headers["Link"]))
        assert {"prev", "first"} <= set(rels)
        url = rels.get("next")
    assert seen == sorted(f"octocat/repo-{n}" for n in range(7))
    one_page = http("GET", f"{gh.api_url}/user/repos", token=token)
    assert len(one_page.json()) == 7 and "Link" not in one_page.headers


def test_organisation_repositories(gh: GitHubStandIn) -> None:
    gh.add_repo("acme/site")
    gh.add_repo("acme/billing", private=True)
    gh.add_user("outsider")
    member = gh.issue_token("octocat")
    outsider = gh.issue_token("outsider")
    listed = http("GET", f"{gh.api_url}/orgs/acme/repos", token=member).json()
    assert [r["full_name"] for r in listed] == ["acme/billing", "acme/site"]  # newest first
    assert listed[0]["owner"]["type"] == "Organization"
    seen = http("GET", f"{gh.api_url}/orgs/acme/repos", token=outsider).json()
    assert [r["full_name"] for r in seen] == ["acme/site"]
    assert http("GET", f"{gh.api_url}/orgs/nobody/repos", token=member).status == 404


def test_rate_limit_headers_and_the_switches_for_refusals_and_failures(
    gh: GitHubStandIn,
) -> None:
    token = gh.issue_token("octocat")
    url = f"{gh.api_url}/user"
    first, second = http("GET", url, token=token), http("GET", url, token=token)
    assert int(first.headers["X-RateLimit-Limit"]) == 5000
    remaining = int(second.headers["X-RateLimit-Remaining"])
    assert remaining == int(first.headers["X-RateLimit-Remaining"]) - 1
    reset = int(first.headers["X-RateLimit-Reset"])

    gh.rate_limit_next(2)
    for _ in range(2):
        limited = http("GET", url, token=token)
        assert limited.status == 403
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert int(limited.headers["X-RateLimit-Reset"]) == reset
        assert limited.json()["message"].startswith("API rate limit exceeded")

    gh.rate_limit_next(secondary=True, status=429, retry_after=30)
    secondary = http("GET", url, token=token)
    assert secondary.status == 429 and secondary.headers["Retry-After"] == "30"
    assert "secondary rate limit" in secondary.json()["message"]

    gh.fail_next(1, status=503)
    assert http("GET", url, token=token).status == 503
    assert http("GET", url, token=token).status == 200


def test_branches_commits_and_the_sha_media_type(gh: GitHubStandIn) -> None:
    gh.add_repo("octocat/app", files={"app.py": "print(1)\n"})
    sha = gh.push("octocat/app", "feature/x", {"app.py": "print(2)\n"}, message="Two")
    token = gh.issue_token("octocat")
    branches = http("GET", f"{gh.api_url}/repos/octocat/app/branches", token=token).json()
    assert {b["name"]: b["commit"]["sha"] for b in branches} == {
        "feature/x": sha,
        "main": gh.sha("octocat/app", "main"),
    }
    commit = http("GET", f"{gh.api_url}/repos/octocat/app/commits/feature/x", token=token).json()
    assert commit["sha"] == sha and commit["commit"]["message"] == "Two"
    assert commit["parents"][0]["sha"] == gh.sha("octocat/app", "main")
    assert commit["commit"]["author"]["email"] == "tester@example.com"
    plain = http(
        "GET",
        f"{gh.api_url}/repos/octocat/app/commits/main",
        token=token,
        headers={"Accept": "application/vnd.github.sha"},
    )
    assert plain.body.decode() == gh.sha("octocat/app", "main")
    missing = http("GET", f"{gh.api_url}/repos/octocat/app/commits/nope", token=token)
    assert missing.status == 422 and missing.json()["message"] == "No commit found for SHA: nope"


def test_commit_statuses_and_deployments_are_recorded(gh: GitHubStandIn) -> None:
    gh.add_repo("octocat/app")
    sha = gh.sha("octocat/app", "main")
    token = gh.issue_token("octocat")
    repo = f"{gh.api_url}/repos/octocat/app"
    status = {"state": "pending", "context": "deployd", "target_url": "http://example.com/1"}
    created = http("POST", f"{repo}/statuses/{sha}", token=token, data=status)
    assert created.status == 201 and created.json()["creator"]["login"] == "octocat"
    bad = http("POST", f"{repo}/statuses/{sha}", token=token, data={"state": "fine"})
    assert bad.status == 422 and bad.json()["message"] == "Validation Failed"

    deploy = {"ref": "main", "environment": "preview", "auto_merge": False}
    blocked = http("POST", f"{repo}/deployments", token=token, data=deploy)
    assert blocked.status == 409  # by default every context must be a success first
    assert blocked.json()["errors"][0]["contexts"] == [{"context": "deployd", "state": "pending"}]
    unblocked = http(
        "POST", f"{repo}/deployments", token=token, data=deploy | {"required_contexts": []}
    )
    assert unblocked.status == 201
    deployment = unblocked.json()
    assert (deployment["sha"], deployment["environment"], deployment["task"]) == (
        sha,
        "preview",
        "deploy",
    )
    assert deployment["production_environment"] is False

    done = {"state": "success", "environment_url": "http://preview.example.com"}
    answered = http(
        "POST", f"{repo}/deployments/{deployment['id']}/statuses", token=token, data=done
    )
    assert answered.status == 201 and answered.json()["state"] == "success"
    assert answered.json()["environment_url"] == "http://preview.example.com"

    assert [(s.context, s.state, s.sha) for s in gh.statuses("octocat/app")] == [
        ("deployd", "pending", sha)
    ]
    [recorded] = gh.deployments("octocat/app")
    assert [s.state for s in recorded.statuses] == ["success"]


def test_a_deployment_of_a_branch_behind_the_default_is_auto_merged_first(
    gh: GitHubStandIn,
) -> None:
    gh.add_repo("octocat/app", files={"a": "1"})
    gh.push("octocat/app", "topic", {"b": "1"})
    gh.push("octocat/app", "main", {"c": "1"})
    token = gh.issue_token("octocat")
    merged = http(
        "POST", f"{gh.api_url}/repos/octocat/app/deployments", token=token, data={"ref": "topic"}
    )
    assert merged.status == 202
    assert merged.json()["message"] == "Auto-merged main into topic on deployment."
    topic = gh.sha("octocat/app", "topic")
    assert gh.sha("octocat/app", "topic^2") == gh.sha("octocat/app", "main")  # a merge commit
    again = http(
        "POST", f"{gh.api_url}/repos/octocat/app/deployments", token=token, data={"ref": "topic"}
    )
    assert again.status == 201 and again.json()["sha"] == topic


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
