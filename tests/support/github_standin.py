"""A stand-in for GitHub (as a GitHub Enterprise Server host) on 127.0.0.1, for tests.

GitHub itself cannot be reached from here, and a client tested against mocks of its own
making only proves it agrees with itself. This server speaks GitHub's wire protocol on a
free loopback port instead, so the daemon's GitHub code runs unchanged against it with its
base URL set, as it would be for GitHub Enterprise (web at `<base>`, API at `<base>/api/v3`):

- the OAuth device flow and refresh grant at `<base>/login/...` with GitHub's error codes
  (authorization_pending, slow_down with the new interval, expired_token, access_denied,
  incorrect_client_credentials, ...); the test plays the person: `approve(user_code)`;
- the REST endpoints the integration uses, with token and scope checks, GitHub's error
  bodies, rate-limit headers, `Link` pagination, and switches for the next calls to be
  rate-limited or to fail, so retries can be tested;
- repositories backed by real bare git repositories, cloned over smart HTTP through
  `git http-backend`; private ones want the user's token as the Basic password;
- webhooks signed with `X-Hub-Signature-256`, sent when the test pushes, opens or closes
  a pull request, recorded for the deliveries endpoint and redelivered with the same
  `X-GitHub-Delivery`; and raw, forged deliveries for the bad-input tests.

Test-side changes (`push`, `open_pull_request`, ...) return once their webhooks have been
delivered; webhooks caused by API calls (ping, status, deployment) go out just after the
answer, as GitHub's do: wait for them with `wait_for_deliveries()`.

Usage:

    with GitHubStandIn() as gh:
        gh.add_user("octocat")
        app = gh.add_oauth_app()
        gh.add_repo("octocat/app", private=True, files={"app.py": "..."})
        token = gh.issue_token("octocat")  # or the device flow: gh.approve(user_code)
        ...  # point the client at gh.web_url / gh.api_url
        sha = gh.push("octocat/app", "main", {"app.py": "print(2)"}, message="v2")
"""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tests.support.github import api_hooks, api_repos, api_statuses
from tests.support.github.api import Api
from tests.support.github.events import Events
from tests.support.github.githttp import GitHttp
from tests.support.github.gitstore import ZERO_SHA, BareRepo
from tests.support.github.hooks import HOOKSHOT, Answer, Dispatcher, post, signature_256
from tests.support.github.oauth import OAuth
from tests.support.github.pushes import Pushes
from tests.support.github.server import Server, Site
from tests.support.github.shapes import Shapes, Urls
from tests.support.github.world import (
    Account,
    ApiRequest,
    CommitStatus,
    Delivery,
    Deployment,
    DeviceGrant,
    Fault,
    GitRequest,
    Hook,
    OAuthApp,
    Permission,
    PullRequest,
    Repository,
    Token,
    World,
    token_string,
)

__all__ = [
    "Answer",
    "ApiRequest",
    "CommitStatus",
    "Delivery",
    "Deployment",
    "DeviceGrant",
    "GitHubStandIn",
    "GitRequest",
    "Hook",
    "OAuthApp",
    "PullRequest",
]

Files = Mapping[str, str | bytes | None]
DELIVERY_WAIT = 30.0


class GitHubStandIn:
    def __init__(
        self,
        root: Path | None = None,
        *,
        device_interval: int = 5,
        device_expires_in: int = 900,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="github-standin-")) if root is None else root
        self.world = World(self.root / "repos")
        self.world.repos_root.mkdir(parents=True, exist_ok=True)
        self._server = Server(("127.0.0.1", 0))
        host, port = self._server.server_address[:2]
        self.web_url = f"http://{host!s}:{port}"
        self.api_url = f"{self.web_url}/api/v3"
        self.shapes = Shapes(Urls(self.web_url, self.api_url))
        self.dispatcher = Dispatcher(self.world, f"{host!s}:{port}")
        self.events = Events(self.world, self.shapes)
        self.pushes = Pushes(self.world, self.events, self.dispatcher)
        api = Api(self.world, self.shapes, self.events, self.dispatcher, self.pushes)
        api_statuses.install(api)  # first: its commits/{ref}/status(es) before commits/{ref}
        api_hooks.install(api)
        api_repos.install(api)
        oauth = OAuth(self.world, self.web_url, device_interval, device_expires_in)
        self._server.site = Site(api, oauth, GitHttp(self.world, str(host), int(port)))
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> GitHubStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="github-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()
        self.dispatcher.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # accounts, apps and tokens
    def add_user(self, login: str, *, name: str | None = None, email: str | None = None) -> str:
        return self._account(login, "User", name, email or f"{login}@users.noreply.github.com")

    def add_org(self, login: str, *, members: Iterable[str] = ()) -> str:
        self._account(login, "Organization", login, None)
        with self.world.lock:
            org = self.world.account(login)
            assert org is not None
            for member in members:
                self.add_user(member)
                org.members.add(member.lower())
        return login

    def _account(
        self, login: str, kind: Literal["User", "Organization"], name: str | None, email: str | None
    ) -> str:
        with self.world.lock:
            if self.world.account(login) is None:
                account = Account(login, self.world.new_id(), kind, name, email)
                self.world.accounts[login.lower()] = account
        return login

    def add_oauth_app(
        self,
        client_id: str | None = None,
        *,
        client_secret: str | None = None,
        expiring_tokens: bool = False,
        device_flow: bool = True,
    ) -> OAuthApp:
        """An OAuth app (gho_ tokens with scopes), or with `expiring_tokens` a GitHub App
        whose user tokens (ghu_) expire after eight hours and come with a refresh token."""
        app = OAuthApp(
            client_id or ("Iv1." if expiring_tokens else "Ov23li") + secrets.token_hex(7),
            client_secret or secrets.token_hex(20),
            expiring_tokens,
            device_flow,
        )
        with self.world.lock:
            self.world.apps[app.client_id] = app
        return app

    def issue_token(
        self, login: str, scopes: Iterable[str] = ("repo",), *, expires_in: float | None = None
    ) -> str:
        """A token for `login` without the device flow (a personal access token, classic)."""
        with self.world.lock:
            if self.world.account(login) is None:
                raise KeyError(f"no account {login!r}")
            expires = None if expires_in is None else self.world.now() + expires_in
            token = Token(token_string("ghp_"), login, tuple(scopes), None, expires)
            self.world.tokens[token.value] = token
        return token.value

    def expire_token(self, token: str) -> None:
        with self.world.lock:
            self.world.tokens[token].expires_at = self.world.now()

    def revoke_token(self, token: str) -> None:
        with self.world.lock:
            self.world.tokens[token].revoked = True

    # the device flow, from the person's side
    def device_grants(self) -> list[DeviceGrant]:
        """Every device code requested so far (copies), oldest first."""
        with self.world.lock:
            return [copy.copy(g) for g in self.world.grants.values()]

    def _grant(self, user_code: str) -> DeviceGrant:
        wanted = user_code.strip().upper()
        for grant in self.world.grants.values():
            if grant.user_code == wanted:
                return grant
        raise KeyError(f"no device code with user code {user_code!r}")

    def approve(self, user_code: str, login: str | None = None) -> None:
        """The person enters `user_code` and authorizes, as `login` (the first user)."""
        with self.world.lock:
            grant = self._grant(user_code)
            users = [a.login for a in self.world.accounts.values() if a.type == "User"]
            chosen = login or (users[0] if users else None)
            if chosen is None or self.world.account(chosen) is None:
                raise KeyError(f"no user {chosen!r} to authorize as")
            if grant.state != "pending" or self.world.now() >= grant.expires_at:
                raise ValueError(f"user code {user_code} is no longer pending")
            grant.state, grant.login = "approved", chosen

    def deny(self, user_code: str) -> None:
        """The person clicks Cancel."""
        with self.world.lock:
            self._grant(user_code).state = "denied"

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward (device codes, polling intervals, tokens)."""
        self.world.advance(seconds)

    # repositories
    def _repo(self, full_name: str) -> Repository:
        repo = self.world.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name!r}")
        return repo

    def add_repo(
        self,
        full_name: str,
        *,
        private: bool = False,
        default_branch: str = "main",
        files: Files | None = None,
        description: str | None = None,
    ) -> str:
        """A repository with one commit of `files` (a README when None; {} leaves it empty).
        Its owner becomes a user unless an organisation of that name exists."""
        owner, name = full_name.split("/")
        if self.world.account(owner) is None:
            self.add_user(owner)
        git = BareRepo.create(self.world.repos_root / owner / f"{name}.git", default_branch)
        contents = {"README.md": f"# {name}\n"} if files is None else files
        if contents:
            sha = git.commit_files(None, contents, "Initial commit")
            git.set_ref(f"refs/heads/{default_branch}", sha, None)
        now = self.world.now()
        with self.world.lock:
            if self.world.repo(full_name) is not None:
                raise ValueError(f"{full_name} exists")
            self.world.repos[full_name.lower()] = Repository(
                self.world.new_id(),
                owner,
                name,
                private,
                default_branch,
                git,
                now,
                now,
                now if contents else None,
                description,
            )
        return full_name

    def add_collaborator(self, repo: str, login: str, permission: Permission = "push") -> None:
        if self.world.account(login) is None:
            self.add_user(login)
        with self.world.lock:
            self._repo(repo).collaborators[login.lower()] = permission

    def fork(self, repo: str, owner: str = "forker") -> str:
        """`owner`'s fork of `repo`, with its branches as they are now."""
        parent = self._repo(repo)
        full_name = f"{owner}/{parent.name}"
        self.add_repo(
            full_name, private=parent.private, default_branch=parent.default_branch, files={}
        )
        fork = self._repo(full_name)
        fork.git.git("fetch", "--quiet", str(parent.git.path), "+refs/heads/*:refs/heads/*")
        with self.world.lock:
            fork.parent = parent.full_name
            fork.pushed_at = parent.pushed_at
        return full_name

    def sha(self, repo: str, ref: str) -> str:
        found = self._repo(repo).git.resolve(ref)
        if found is None:
            raise KeyError(f"{repo} has no {ref!r}")
        return found

    def clone_url(self, repo: str) -> str:
        return f"{self.web_url}/{self._repo(repo).full_name}.git"

    def push(
        self,
        repo: str,
        branch: str,
        files: Files,
        message: str = "A change",
        *,
        pusher: str | None = None,
        start_point: str | None = None,
    ) -> str:
        """Commit `files` (None removes one) on `branch` as the test identity, move the branch
        (a new one starts at `start_point`, else the default branch) and deliver the `push`
        webhook, and `pull_request` `synchronize` for open pull requests from the branch.
        Returns the new commit's sha once the webhooks have been delivered."""
        target = self._repo(repo)
        with self.pushes.git_lock:
            parent = target.git.branch_sha(branch)
            if parent is None:
                start = start_point or target.default_branch
                parent = target.git.resolve(start) if target.git.branches() else None
            sha = target.git.commit_files(parent, files, message)
            done = self.pushes.update(target, branch, sha, pusher or target.owner)
        self._wait(done)  # not under the lock: a receiver may call back into the API
        return sha

    def delete_branch(self, repo: str, branch: str, *, pusher: str | None = None) -> None:
        target = self._repo(repo)
        self._wait(self.pushes.update(target, branch, ZERO_SHA, pusher or target.owner))

    # pull requests
    def open_pull_request(
        self,
        repo: str,
        head: str,
        base: str | None = None,
        *,
        from_fork: bool = False,
        title: str | None = None,
        body: str = "",
    ) -> int:
        """Open a pull request into `repo` from its branch `head`, or from the fork's (the
        default fork owner's with `from_fork`, or `owner:branch`); returns its number once
        `pull_request` `opened` has been delivered."""
        target = self._repo(repo)
        head_owner, _, head_ref = head.rpartition(":")
        if from_fork and not head_owner:
            head_owner = "forker"
        head_repo = self._repo(f"{head_owner}/{target.name}") if head_owner else target
        pull, done = self.pushes.open_pull(
            target,
            head_repo,
            head_ref,
            base or target.default_branch,
            title or f"Changes from {head_ref}",
            body,
            head_repo.owner,
        )
        self._wait(done)
        return pull.number

    def close_pull_request(
        self, repo: str, number: int, *, merged: bool = False, sender: str | None = None
    ) -> None:
        """Close it (`pull_request` `closed`); merged, its head is merged into the base branch
        first, with the `push` that brings."""
        pull = self.pull_request(repo, number)
        self._wait(self.pushes.close_pull(pull, merged, sender or self._repo(repo).owner))

    def pull_request(self, repo: str, number: int) -> PullRequest:
        with self.world.lock:
            found = self.world.pulls.get((self._repo(repo).full_name, number))
        if found is None:
            raise KeyError(f"{repo} has no pull request #{number}")
        return found

    # webhooks
    def hooks(self, repo: str) -> list[Hook]:
        full_name = self._repo(repo).full_name
        with self.world.lock:
            return [copy.copy(h) for h in self.world.hooks.values() if h.repo == full_name]

    def deliveries(
        self, repo: str | None = None, *, hook_id: int | None = None, event: str | None = None
    ) -> list[Delivery]:
        """Deliveries made so far, oldest first."""
        with self.world.lock:
            return [
                d
                for d in self.world.deliveries
                if (repo is None or d.repo.lower() == repo.lower())
                and (hook_id is None or d.hook_id == hook_id)
                and (event is None or d.event == event)
            ]

    def wait_for_deliveries(self, timeout: float = DELIVERY_WAIT) -> None:
        """Return once every webhook caused so far has been delivered (or failed)."""
        self.dispatcher.drain(timeout)

    def _wait(self, done: list[threading.Event]) -> None:
        for event in done:
            if not event.wait(DELIVERY_WAIT):
                raise TimeoutError("a webhook delivery did not finish")

    def send_raw(
        self,
        url: str,
        body: bytes | Mapping[str, Any] | list[Any],
        *,
        event: str = "push",
        secret: str | None = None,
        signature: str | None = None,
        headers: Mapping[str, str | None] | None = None,
        guid: str | None = None,
    ) -> Answer:
        """A delivery made by hand for the bad-input tests: `secret` signs it correctly,
        `signature` puts that exact X-Hub-Signature-256 instead, neither sends none; `headers`
        add, replace or (with None) remove headers. Not recorded as a hook's delivery."""
        raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        sent: dict[str, str] = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": HOOKSHOT,
            "X-GitHub-Delivery": guid or str(uuid.uuid4()),
            "X-GitHub-Event": event,
        }
        if signature is not None:
            sent["X-Hub-Signature-256"] = signature
        elif secret is not None:
            sent["X-Hub-Signature-256"] = signature_256(secret, raw)
        for name, value in (headers or {}).items():
            sent.pop(name, None)
            if value is not None:
                sent[name] = value
        return post(url, raw, sent)

    # what the client did, for assertions
    def statuses(self, repo: str, sha: str | None = None) -> list[CommitStatus]:
        full_name = self._repo(repo).full_name
        with self.world.lock:
            return [
                s
                for s in self.world.statuses
                if s.repo == full_name and (sha is None or s.sha == sha)
            ]

    def deployments(self, repo: str) -> list[Deployment]:
        full_name = self._repo(repo).full_name
        with self.world.lock:
            return [
                copy.deepcopy(d) for d in self.world.deployments.values() if d.repo == full_name
            ]

    @property
    def api_requests(self) -> list[ApiRequest]:
        with self.world.lock:
            return list(self.world.api_requests)

    @property
    def git_requests(self) -> list[GitRequest]:
        with self.world.lock:
            return list(self.world.git_requests)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of the stand-in's own failures (each answered 500): a test wants none."""
        with self.world.lock:
            return list(self.world.errors)

    # faults
    def rate_limit_next(
        self, count: int = 1, *, secondary: bool = False, status: int = 403, retry_after: int = 60
    ) -> None:
        """The next `count` API calls are refused as rate-limited: the primary limit spent
        (remaining 0, reset in the future), or a secondary limit with Retry-After."""
        kind: Literal["primary", "secondary"] = "secondary" if secondary else "primary"
        with self.world.lock:
            self.world.faults += [Fault(kind, status, retry_after)] * count

    def fail_next(self, count: int = 1, status: int = 502) -> None:
        """The next `count` API calls fail with `status` (a 5xx)."""
        with self.world.lock:
            self.world.faults += [Fault("error", status)] * count
