"""The GitHub stand-in behaves as GitHub does, on the wire: the OAuth device flow and the
REST API's tokens, scopes, pages, rate limits, statuses and deployments.
(Webhooks, pull requests and git over HTTP: test_github_standin_git.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.github.probe import Reply, http
from tests.support.github_standin import GitHubStandIn, OAuthApp

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path / "github") as standin:
        standin.add_user("octocat", name="The Octocat")
        standin.add_org("acme", members=["octocat"])
        yield standin
        assert standin.internal_errors == []


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
