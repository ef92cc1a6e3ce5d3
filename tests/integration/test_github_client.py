"""The GitHub client against the stand-in, which speaks GitHub's wire protocol: the device
flow and refresh, lists over pages, webhooks, statuses and deployments, retries, rate
limits and bad tokens; and against a small hostile server: redirects to another host,
links off the host, clone URLs off the host and answers too large to hold."""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deployd.domain.errors import DomainError
from deployd.sources.github import (
    DeviceCode,
    DeviceFlow,
    Endpoints,
    GitHub,
    GitHubError,
    GitHubErrorKind,
    Policy,
)
from tests.support.github_standin import GitHubStandIn

LOGIN_AGAIN = "run `deployctl github login` again"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path / "github") as standin:
        standin.add_user("octocat")
        standin.add_org("acme", members=["octocat"])
        yield standin
        assert standin.internal_errors == []


@pytest.fixture
def endpoints(gh: GitHubStandIn) -> Endpoints:
    return Endpoints(gh.api_url, gh.web_url)


@dataclass
class Clock:
    """Sleeps that take no time: each moves the stand-in's clock instead, and is recorded."""

    gh: GitHubStandIn
    slept: list[float] = field(default_factory=list)
    then: Callable[[int], None] | None = None  # called after the n-th sleep (from 1)
    short: dict[int, float] = field(default_factory=dict)  # n-th sleep moves this much only

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.gh.advance(self.short.get(len(self.slept), seconds))
        if self.then is not None:
            self.then(len(self.slept))


# the device flow


@pytest.mark.asyncio
async def test_device_flow_waits_for_the_person_then_grants_a_token(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    app = gh.add_oauth_app()
    async with DeviceFlow(endpoints) as flow:
        code = await flow.start(app.client_id)
        assert code.verification_uri == f"{gh.web_url}/login/device"
        assert (code.interval, code.expires_in) == (5, 900)
        assert code.device_code not in repr(code)
        [grant_seen] = gh.device_grants()
        assert grant_seen.scopes == ("repo", "admin:repo_hook")

        clock = Clock(gh, then=lambda n: gh.approve(code.user_code) if n == 2 else None)
        said: list[str] = []
        grant = await flow.poll(code, sleep=clock, on_wait=said.append)
    assert clock.slept == [5, 5]  # pending once, then approved
    assert said == [
        f"waiting for the code {code.user_code} to be entered at {code.verification_uri} "
        "(14 min left)"
    ]
    assert grant.scope == "repo,admin:repo_hook" and grant.expires_at is None
    assert grant.refresh_token is None and grant.access_token not in repr(grant)
    async with GitHub(endpoints, grant.access_token) as github:
        assert (await github.user()).login == "octocat"


@pytest.mark.asyncio
async def test_device_flow_slows_down_when_github_says_so(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    app = gh.add_oauth_app()
    async with DeviceFlow(endpoints) as flow:
        code = await flow.start(app.client_id)
        # the second wait is cut short (a clock that ran fast): GitHub answers slow_down
        clock = Clock(
            gh, short={2: 1}, then=lambda n: gh.approve(code.user_code) if n == 3 else None
        )
        said: list[str] = []
        await flow.poll(code, sleep=clock, on_wait=said.append)
    assert clock.slept == [5, 5, 10]
    assert "GitHub asked deployd to poll less often: every 10 s now" in said


@pytest.mark.asyncio
async def test_a_denied_or_expired_device_login_says_what_to_do(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    app = gh.add_oauth_app()
    async with DeviceFlow(endpoints) as flow:
        denied = await flow.start(app.client_id)
        clock = Clock(gh, then=lambda n: gh.deny(denied.user_code))
        with pytest.raises(GitHubError) as refused:
            await flow.poll(denied, sleep=clock)
        assert refused.value.kind is GitHubErrorKind.FORBIDDEN
        assert "denied" in refused.value.message and LOGIN_AGAIN in refused.value.message

        expiring = await flow.start(app.client_id)
        with pytest.raises(GitHubError) as expired:
            await flow.poll(expiring, sleep=Clock(gh, short={1: 900}))
        assert expired.value.kind is GitHubErrorKind.AUTH
        assert expired.value.message == (
            f"the code {expiring.user_code} expired before it was entered; {LOGIN_AGAIN}"
        )
        assert expiring.device_code not in expired.value.message

        with pytest.raises(GitHubError) as unknown:
            await flow.start("Ov23li-unknown")
        assert unknown.value.kind is GitHubErrorKind.REFUSED
        assert "DEPLOYD_GITHUB_CLIENT_ID" in unknown.value.message
        disabled = gh.add_oauth_app(device_flow=False)
        with pytest.raises(GitHubError, match="enable it in the app's settings"):
            await flow.start(disabled.client_id)


@pytest.mark.asyncio
async def test_expiring_tokens_are_refreshed(gh: GitHubStandIn, endpoints: Endpoints) -> None:
    app = gh.add_oauth_app(expiring_tokens=True)
    async with DeviceFlow(endpoints) as flow:
        code = await flow.start(app.client_id)
        grant = await flow.poll(code, sleep=Clock(gh, then=lambda n: gh.approve(code.user_code)))
        assert grant.refresh_token is not None and grant.expires_at is not None
        assert grant.refresh_token_expires_at is not None
        now = datetime.now(UTC)
        assert timedelta(hours=7, minutes=59) < grant.expires_at - now <= timedelta(hours=8)
        assert not grant.expires_within(timedelta(hours=7), now)
        assert grant.expires_within(timedelta(hours=8, minutes=1), now)

        gh.advance(8 * 3600)
        async with GitHub(endpoints, grant.access_token) as stale:
            with pytest.raises(GitHubError) as expired:
                await stale.user()
        assert expired.value.kind is GitHubErrorKind.AUTH
        assert LOGIN_AGAIN in expired.value.message
        assert grant.access_token not in expired.value.message

        fresh = await flow.refresh(app.client_id, grant.refresh_token)
        assert fresh.access_token != grant.access_token and fresh.refresh_token is not None
        async with GitHub(endpoints, fresh.access_token) as github:
            assert (await github.user()).login == "octocat"

        with pytest.raises(GitHubError) as reused:
            await flow.refresh(app.client_id, grant.refresh_token)
        assert reused.value.kind is GitHubErrorKind.AUTH and LOGIN_AGAIN in reused.value.message
        assert grant.refresh_token not in reused.value.message


# reading


@pytest.mark.asyncio
async def test_repositories_come_from_every_page_private_ones_too(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    for n in range(7):
        gh.add_repo(f"octocat/repo-{n}", private=n % 2 == 1)
    gh.add_repo("acme/site")
    gh.add_repo("acme/billing", private=True)
    gh.add_user("stranger")
    gh.add_repo("stranger/hidden", private=True)
    token = gh.issue_token("octocat", ["repo", "admin:repo_hook"])
    async with GitHub(endpoints, token, per_page=3) as github:
        mine = await github.repos()
        org = await github.repos("acme")
    names = [r.full_name for r in mine]
    assert names == sorted(["acme/billing", "acme/site"] + [f"octocat/repo-{n}" for n in range(7)])
    one = next(r for r in mine if r.full_name == "octocat/repo-1")
    assert one.private and one.default_branch == "main" and one.admin
    assert one.clone_url == gh.clone_url("octocat/repo-1")
    assert one.html_url == f"{gh.web_url}/octocat/repo-1"
    assert sorted(r.full_name for r in org) == ["acme/billing", "acme/site"]
    pages = [r for r in gh.api_requests if r.path == "/user/repos"]
    assert len(pages) == 3 and all(r.auth_scheme == "bearer" for r in pages)


@pytest.mark.asyncio
async def test_branches_and_a_repository(gh: GitHubStandIn, endpoints: Endpoints) -> None:
    gh.add_repo("acme/app", private=True, default_branch="trunk")
    gh.push("acme/app", "feature/login", {"app.py": "1"})
    async with GitHub(endpoints, gh.issue_token("octocat")) as github:
        branches = await github.branches("acme/app")
        repo = await github.repository("acme/app")
        with pytest.raises(GitHubError) as missing:
            await github.repository("acme/nothing")
        with pytest.raises(DomainError):
            await github.branches("acme/..")
        with pytest.raises(DomainError):
            await github.repos("acme/../../user")
    assert [(b.name, b.sha) for b in branches] == [
        ("feature/login", gh.sha("acme/app", "feature/login")),
        ("trunk", gh.sha("acme/app", "trunk")),
    ]
    assert repo.default_branch == "trunk" and repo.private
    assert missing.value.kind is GitHubErrorKind.NOT_FOUND
    assert missing.value.message == (
        "GitHub has no repository acme/nothing, or this token may not see it"
    )


# webhooks


@pytest.mark.asyncio
async def test_webhooks_are_created_listed_redelivered_and_deleted(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    gh.add_repo("acme/app")
    url = "http://127.0.0.1:9/hooks/github"  # nobody listens: deliveries fail, and are listed
    async with GitHub(endpoints, gh.issue_token("octocat", ["repo"])) as github:
        hook = await github.create_hook("acme/app", url, "s3cret")
        [made] = gh.hooks("acme/app")
        assert (made.id, made.url, made.secret) == (hook.id, url, "s3cret")
        assert (made.content_type, made.insecure_ssl) == ("json", "0")
        assert made.events == ["push", "pull_request"] == list(hook.events)

        again = await github.create_hook("acme/app", url, "n3w", events=("push",))
        [kept] = gh.hooks("acme/app")
        assert again.id == hook.id and (kept.secret, kept.events) == ("n3w", ["push"])
        assert [h.id for h in await github.hooks("acme/app")] == [hook.id]

        gh.wait_for_deliveries()
        [ping] = await github.deliveries("acme/app", hook.id)
        assert (ping.event, ping.status_code, ping.redelivery) == ("ping", 0, False)
        await github.redeliver("acme/app", hook.id, ping.id)
        gh.wait_for_deliveries()
        latest, first = await github.deliveries("acme/app", hook.id)
        assert latest.redelivery and latest.guid == first.guid == ping.guid

        await github.delete_hook("acme/app", hook.id)
        assert gh.hooks("acme/app") == []
        await github.delete_hook("acme/app", hook.id)  # gone already: fine


@pytest.mark.asyncio
async def test_a_token_without_the_hook_scope_is_told_which_it_needs(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    gh.add_repo("octocat/app")
    async with GitHub(endpoints, gh.issue_token("octocat", ["read:user"])) as github:
        with pytest.raises(GitHubError) as refused:
            await github.create_hook("octocat/app", "http://127.0.0.1:9/", "s3cret")
    assert refused.value.kind is GitHubErrorKind.NOT_FOUND
    assert "needs a token with one of the scopes admin:repo_hook, repo, write:repo_hook" in (
        refused.value.message
    )
    assert "this one has read:user" in refused.value.message
    assert "s3cret" not in refused.value.message


# reporting back


@pytest.mark.asyncio
async def test_statuses_and_deployments_are_recorded(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    gh.add_repo("acme/app")
    behind = gh.push("acme/app", "preview", {"app.py": "1"})
    gh.push("acme/app", "main", {"other.py": "1"})  # the branch is now behind main
    async with GitHub(endpoints, gh.issue_token("octocat")) as github:
        await github.set_status("acme/app", behind, "failure", "tests", None, context="ci")
        await github.set_status("acme/app", behind, "pending", "deploying", "https://d.example/1")
        await github.set_status("acme/app", behind, "success", "x" * 200, None)
        # neither the failed "ci" context nor main being ahead stops deployd's deployment
        deployment = await github.create_deployment(
            "acme/app", "preview", "app-pr-1", "a preview", transient=True
        )
        await github.set_deployment_status(
            "acme/app", deployment, "success", "https://app-pr-1.example.com", "live"
        )
        with pytest.raises(DomainError):
            await github.set_status("acme/app", "main", "success", "a branch is not a sha")
    states = [(s.context, s.state) for s in gh.statuses("acme/app", behind)]
    assert states == [("ci", "failure"), ("deployd", "pending"), ("deployd", "success")]
    assert gh.statuses("acme/app")[1].target_url == "https://d.example/1"
    assert len(gh.statuses("acme/app")[2].description or "") == 140
    [made] = gh.deployments("acme/app")
    assert (made.id, made.sha, made.environment) == (deployment, behind, "app-pr-1")
    assert made.transient_environment and not made.production_environment
    assert gh.sha("acme/app", "preview") == behind  # not auto-merged
    [status] = made.statuses
    assert (status.state, status.environment_url) == ("success", "https://app-pr-1.example.com")


# failures


@pytest.mark.asyncio
async def test_server_errors_are_retried_visibly(gh: GitHubStandIn, endpoints: Endpoints) -> None:
    token = gh.issue_token("octocat")
    said: list[str] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with GitHub(endpoints, token, on_retry=said.append, sleep=sleep) as github:
        gh.fail_next(2)
        assert (await github.user()).login == "octocat"
        assert said == [
            "GitHub answered 502; trying again in 1 s",
            "GitHub answered 502; trying again in 2 s",
        ]
        assert slept == [1, 2]
        gh.fail_next(4, status=503)
        with pytest.raises(GitHubError) as failed:
            await github.user()
    assert failed.value.kind is GitHubErrorKind.UNAVAILABLE
    assert failed.value.message == (
        "GitHub answered 503 (4 times, for the user of this token); try again later"
    )


@pytest.mark.asyncio
async def test_rate_limits(gh: GitHubStandIn, endpoints: Endpoints) -> None:
    token = gh.issue_token("octocat")
    said: list[str] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with GitHub(endpoints, token, on_retry=said.append, sleep=sleep) as github:
        gh.rate_limit_next(secondary=True, retry_after=7)
        assert (await github.user()).login == "octocat"
        assert slept == [7] and said == ["GitHub answered 403 (slow down); trying again in 7 s"]

        gh.rate_limit_next(secondary=True, retry_after=3600)
        with pytest.raises(GitHubError) as long_wait:
            await github.user()
        assert long_wait.value.kind is GitHubErrorKind.RATE_LIMITED
        assert "wait 3600 s" in long_wait.value.message

        gh.rate_limit_next(status=429)
        with pytest.raises(GitHubError) as spent:
            await github.user()
    assert spent.value.kind is GitHubErrorKind.RATE_LIMITED
    reset_at = spent.value.reset_at
    assert reset_at is not None
    assert timedelta(minutes=59) < reset_at - datetime.now(UTC) <= timedelta(hours=1)
    assert spent.value.message == (
        "GitHub's API rate limit for this token is used up; "
        f"it resets at {reset_at:%H:%M} UTC (in 60 min): try again then"
    )
    assert slept == [7]  # no waiting for an hour


@pytest.mark.asyncio
async def test_a_bad_token_says_to_log_in_again_and_is_never_shown(
    gh: GitHubStandIn, endpoints: Endpoints
) -> None:
    gh.add_repo("octocat/app")
    token = gh.issue_token("octocat")
    gh.revoke_token(token)
    bogus = "gho_" + "B" * 36
    for value in (token, bogus):
        github = GitHub(endpoints, value)
        assert value not in repr(github) and "hidden" in repr(github)
        with pytest.raises(GitHubError) as refused:
            await github.repository("octocat/app")
        await github.aclose()
        assert refused.value.kind is GitHubErrorKind.AUTH
        assert refused.value.message == (
            "GitHub refused the token (Bad credentials): it has expired or was revoked; "
            f"{LOGIN_AGAIN}"
        )
        assert value not in repr(refused.value) and value not in str(refused.value)
    with pytest.raises(GitHubError) as empty:
        GitHub(endpoints, "")
    assert empty.value.kind is GitHubErrorKind.AUTH and LOGIN_AGAIN in empty.value.message


# a hostile server


@dataclass
class Seen:
    path: str
    authorization: str | None


@dataclass
class Hostile:
    """Answers each path with what `routes` says: (status, headers, body)."""

    url: str = ""
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    chunked: bool = False


@pytest.fixture
def hostile() -> Iterator[Callable[[], Hostile]]:
    servers: list[ThreadingHTTPServer] = []

    def start() -> Hostile:
        state = Hostile()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def do_GET(self) -> None:
                state.seen.append(Seen(self.path, self.headers.get("Authorization")))
                status, headers, body = state.routes.get(self.path, (404, {}, b"{}"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                try:
                    if state.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for start in range(0, len(body), 65536):
                            piece = body[start : start + 65536]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                except OSError:  # the client hung up on an answer it refused
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def user_json(login: str = "octocat") -> bytes:
    return json.dumps({"login": login, "id": 1}).encode()


def hostile_client(server: Hostile, **policy: float) -> GitHub:
    endpoints = Endpoints(f"{server.url}/api/v3", server.url)
    return GitHub(endpoints, "gho_" + "T" * 36, policy=Policy(**policy))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_redirects_are_followed_on_the_same_host_only(
    hostile: Callable[[], Hostile],
) -> None:
    server, elsewhere = hostile(), hostile()
    elsewhere.routes["/api/v3/user"] = (200, {}, user_json("elsewhere"))
    server.routes["/api/v3/user"] = (301, {"Location": "/api/v3/user/1"}, b"")
    server.routes["/api/v3/user/1"] = (200, {}, user_json("moved"))
    server.routes["/api/v3/repos/acme/app"] = (
        307,
        {"Location": f"{elsewhere.url}/api/v3/user"},
        b"",
    )
    github = hostile_client(server)
    assert (await github.user()).login == "moved"
    assert [s.path for s in server.seen] == ["/api/v3/user", "/api/v3/user/1"]
    assert all(s.authorization == "Bearer gho_" + "T" * 36 for s in server.seen)
    with pytest.raises(GitHubError) as refused:
        await github.repository("acme/app")
    await github.aclose()
    assert refused.value.kind is GitHubErrorKind.INVALID
    assert refused.value.message == (
        "GitHub redirected repository acme/app to another host (127.0.0.1); "
        "deployd follows redirects only on the same host"
    )
    assert elsewhere.seen == []


@pytest.mark.asyncio
async def test_links_and_clone_urls_off_the_host_are_refused(
    hostile: Callable[[], Hostile],
) -> None:
    server, elsewhere = hostile(), hostile()
    next_page = f'<{elsewhere.url}/api/v3/user/repos?page=2>; rel="next"'
    server.routes["/api/v3/user/repos?sort=full_name&per_page=100"] = (
        200,
        {"Link": next_page},
        b"[]",
    )
    repo = {
        "full_name": "acme/app",
        "private": True,
        "default_branch": "main",
        "clone_url": f"{elsewhere.url}/acme/app.git",
        "html_url": f"{server.url}/acme/app",
    }
    server.routes["/api/v3/repos/acme/app"] = (200, {}, json.dumps(repo).encode())
    github = hostile_client(server)
    with pytest.raises(GitHubError, match=r"next page .* is on another host"):
        await github.repos()
    with pytest.raises(GitHubError, match=re.escape("a clone URL off http://127.0.0.1")):
        await github.repository("acme/app")
    await github.aclose()
    assert elsewhere.seen == []


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["declared", "chunked", "gzip"])
async def test_an_oversized_answer_is_refused(hostile: Callable[[], Hostile], how: str) -> None:
    server = hostile()
    big = b'{"login": "' + b"x" * (11 * 1024 * 1024) + b'", "id": 1}'
    headers: dict[str, str] = {}
    if how == "gzip":  # 11 MB that travel as a few kilobytes
        big, headers = gzip.compress(big), {"Content-Encoding": "gzip"}
        assert len(big) < 100_000
    server.chunked = how == "chunked"
    server.routes["/api/v3/user"] = (200, headers, big)
    github = hostile_client(server)
    with pytest.raises(GitHubError) as refused:
        await github.user()
    await github.aclose()
    assert refused.value.kind is GitHubErrorKind.INVALID
    assert refused.value.message == "GitHub's answer is larger than 10.0 MiB: refused"


@pytest.mark.asyncio
async def test_answers_that_are_not_githubs_are_invalid(hostile: Callable[[], Hostile]) -> None:
    server = hostile()
    token = "gho_" + "T" * 36
    server.routes["/api/v3/user"] = (200, {}, b"<html>a captive portal</html>")
    server.routes["/api/v3/repos/acme/app/branches?per_page=100"] = (200, {}, b'{"a": 1}')
    echo = json.dumps({"message": f"Bad token {token}"}).encode()
    server.routes["/api/v3/repos/acme/app"] = (403, {}, echo)
    github = hostile_client(server, retries=0)
    with pytest.raises(GitHubError, match="the user of this token is not JSON"):
        await github.user()
    with pytest.raises(GitHubError, match="is not a list"):
        await github.branches("acme/app")
    with pytest.raises(GitHubError) as echoed:
        await github.repository("acme/app")
    await github.aclose()
    assert echoed.value.kind is GitHubErrorKind.FORBIDDEN
    assert token not in echoed.value.message and "[secret]" in echoed.value.message


@pytest.mark.asyncio
async def test_an_unreachable_github_is_unavailable_after_the_retries(
    hostile: Callable[[], Hostile],
) -> None:
    server = hostile()
    endpoints = Endpoints("http://127.0.0.1:9/api/v3", "http://127.0.0.1:9")
    said: list[str] = []

    async def sleep(seconds: float) -> None:
        del seconds

    github = GitHub(endpoints, "gho_x", retries=1, on_retry=said.append, sleep=sleep)
    with pytest.raises(GitHubError) as failed:
        await github.user()
    await github.aclose()
    assert failed.value.kind is GitHubErrorKind.UNAVAILABLE
    assert said == ["cannot connect to GitHub at 127.0.0.1:9; trying again in 1 s"]
    assert failed.value.message == (
        "cannot connect to GitHub at 127.0.0.1:9 (2 times, for the user of this token); "
        "try again later"
    )
    assert server.seen == []


@pytest.mark.asyncio
async def test_a_device_flow_that_never_ends_is_given_up(hostile: Callable[[], Hostile]) -> None:
    """A server that says slow_down forever, without a new interval: each wait is five
    seconds longer, and deployd stops once the code must have expired."""
    server = hostile()
    slow = json.dumps({"error": "slow_down"}).encode()
    server.routes["/login/oauth/access_token"] = (200, {}, slow)
    flow = DeviceFlow(Endpoints(f"{server.url}/api/v3", server.url))
    code = DeviceCode(
        client_id="x",
        user_code="ABCD-EFGH",
        verification_uri=f"{server.url}/login/device",
        expires_in=10,
        interval=5,
        device_code="d" * 40,
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with pytest.raises(GitHubError) as expired:
        await flow.poll(code, sleep=sleep)
    await flow.aclose()
    assert slept == [5, 10, 15, 20, 25]
    assert expired.value.kind is GitHubErrorKind.AUTH and LOGIN_AGAIN in expired.value.message


@pytest.mark.asyncio
async def test_a_form_encoded_oauth_answer_is_read_too(hostile: Callable[[], Hostile]) -> None:
    """GitHub answers the OAuth endpoints form-encoded unless JSON is asked for."""
    server = hostile()
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    body = b"device_code=abc&user_code=WDJB-MJHT&verification_uri=x&expires_in=900&interval=5"
    server.routes["/login/device/code"] = (200, form, body)
    async with DeviceFlow(Endpoints(f"{server.url}/api/v3", server.url)) as flow:
        code = await flow.start("Iv1.x")
    assert (code.user_code, code.expires_in, code.interval) == ("WDJB-MJHT", 900, 5)
