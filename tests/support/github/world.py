"""What the GitHub stand-in knows: accounts, apps, tokens, repositories and what was sent.

Plain records behind one lock. The HTTP side and the test side both change them, so every
read or write that spans more than one record holds `World.lock`.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.github.gitstore import BareRepo

Permission = Literal["admin", "push", "pull"]
GrantState = Literal["pending", "approved", "denied", "redeemed"]

_RANK: dict[Permission, int] = {"pull": 1, "push": 2, "admin": 3}
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# GitHub's user codes: eight characters from consonants and digits, a hyphen in the middle
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ0123456789"


def token_string(prefix: str) -> str:
    """A token in GitHub's format: a type prefix (gho_, ghu_, ghr_) and 36 characters."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(36))


def new_user_code() -> str:
    half = [secrets.choice(_USER_CODE_ALPHABET) for _ in range(8)]
    return "".join(half[:4]) + "-" + "".join(half[4:])


@dataclass
class Account:
    login: str
    id: int
    type: Literal["User", "Organization"]
    name: str | None = None
    email: str | None = None
    members: set[str] = field(default_factory=set)  # organisations only


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    expiring_tokens: bool = False  # a GitHub App with expiring user tokens: ghu_ + ghr_
    device_flow: bool = True


@dataclass
class Token:
    value: str
    login: str
    scopes: tuple[str, ...]
    client_id: str | None = None
    expires_at: float | None = None
    revoked: bool = False

    @property
    def from_github_app(self) -> bool:
        """User tokens of GitHub Apps carry no scopes: the app's permissions apply."""
        return self.value.startswith("ghu_")


@dataclass
class RefreshToken:
    value: str
    login: str
    client_id: str
    access_token: str
    expires_at: float
    from_device_flow: bool
    used: bool = False


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    interval: int
    last_poll: float | None = None
    state: GrantState = "pending"
    login: str | None = None


@dataclass
class Repository:
    id: int
    owner: str
    name: str
    private: bool
    default_branch: str
    git: BareRepo
    created_at: float
    updated_at: float
    pushed_at: float | None = None
    description: str | None = None
    parent: str | None = None  # the full name of the repository this one is a fork of
    collaborators: dict[str, Permission] = field(default_factory=dict)
    next_number: int = 1  # issues and pull requests share their numbers, as on GitHub

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Hook:
    id: int
    repo: str
    url: str
    secret: str | None
    content_type: Literal["json", "form"]
    insecure_ssl: str
    events: list[str]
    active: bool
    created_at: float
    updated_at: float
    last_response: dict[str, Any] = field(
        default_factory=lambda: {"code": None, "status": "unused", "message": None}
    )

    def wants(self, event: str) -> bool:
        return self.active and (event == "ping" or event in self.events or "*" in self.events)


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event to one hook (a redelivery is a new attempt)."""

    id: int
    guid: str
    hook_id: int
    repo: str
    repository_id: int
    event: str
    action: str | None
    url: str
    delivered_at: float
    redelivery: bool
    duration: float
    status: str
    status_code: int
    request_headers: dict[str, str]
    request_body: bytes
    response_headers: dict[str, str]
    response_body: str


@dataclass
class PullRequest:
    id: int
    number: int
    repo: str  # the base repository
    head_repo: str
    head_ref: str
    head_sha: str
    base_ref: str
    title: str
    body: str
    user: str
    created_at: float
    updated_at: float
    state: Literal["open", "closed"] = "open"
    merged: bool = False
    merged_at: float | None = None
    closed_at: float | None = None
    merge_commit_sha: str | None = None


@dataclass(frozen=True)
class CommitStatus:
    id: int
    repo: str
    sha: str
    state: str
    target_url: str | None
    description: str | None
    context: str
    creator: str
    created_at: float


@dataclass(frozen=True)
class DeploymentStatus:
    id: int
    deployment_id: int
    state: str
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    creator: str
    created_at: float


@dataclass
class Deployment:
    id: int
    repo: str
    sha: str
    ref: str
    task: str
    payload: Any
    environment: str
    original_environment: str
    description: str | None
    creator: str
    created_at: float
    transient_environment: bool
    production_environment: bool
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    status: int
    auth_scheme: str | None  # "token", "bearer", "basic" or None


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str
    repo: str
    service: str
    authorization_sent: bool
    login: str | None
    status: int


@dataclass(frozen=True)
class Fault:
    kind: Literal["primary", "secondary", "error"]
    status: int
    retry_after: int = 60


@dataclass
class RateWindow:
    reset_at: float
    used: int = 0


class World:
    """Everything the stand-in holds, with the clock it reads and the ids it hands out."""

    RATE_LIMIT = 5000  # requests an hour for an authenticated user
    ANONYMOUS_RATE_LIMIT = 60

    def __init__(self, repos_root: Path) -> None:
        self.lock = threading.RLock()
        self.repos_root = repos_root
        self._ids = itertools.count(1001)
        self._offset = 0.0
        self.accounts: dict[str, Account] = {}
        self.apps: dict[str, OAuthApp] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.grants: dict[str, DeviceGrant] = {}  # by device_code
        self.repos: dict[str, Repository] = {}
        self.hooks: dict[int, Hook] = {}
        self.deliveries: list[Delivery] = []
        self.pulls: dict[tuple[str, int], PullRequest] = {}
        self.statuses: list[CommitStatus] = []
        self.deployments: dict[int, Deployment] = {}
        self.api_requests: list[ApiRequest] = []
        self.git_requests: list[GitRequest] = []
        self.faults: list[Fault] = []
        self.errors: list[str] = []  # the stand-in's own failures: a test should see none
        self.rate: dict[str, RateWindow] = {}

    # the clock: real time, which a test may move forward
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._offset += seconds

    def new_id(self) -> int:
        return next(self._ids)

    # accounts and access
    def account(self, login: str) -> Account | None:
        return self.accounts.get(login.lower())

    def repo(self, full_name: str) -> Repository | None:
        return self.repos.get(full_name.lower())

    def valid_token(self, value: str) -> Token | None:
        token = self.tokens.get(value)
        if token is None or token.revoked:
            return None
        if token.expires_at is not None and self.now() >= token.expires_at:
            return None
        return token

    def permission(self, login: str | None, repo: Repository) -> Permission | None:
        """What `login` may do with `repo`, before the token's scopes are considered."""
        granted: Permission | None = None if repo.private else "pull"
        if login is None:
            return granted
        owner = self.account(repo.owner)
        if login.lower() == repo.owner.lower():
            return "admin"
        if owner is not None and owner.type == "Organization" and login.lower() in owner.members:
            return "admin"
        explicit = repo.collaborators.get(login.lower())
        if explicit is not None and (granted is None or _RANK[explicit] > _RANK[granted]):
            granted = explicit
        return granted

    def may(self, token: Token | None, repo: Repository, need: Permission) -> bool:
        granted = self.permission(token.login if token else None, repo)
        if granted is None or _RANK[granted] < _RANK[need]:
            return False
        if repo.private and token is not None and not token.from_github_app:
            # a classic OAuth token sees private repositories only with the `repo` scope
            return "repo" in token.scopes
        return True

    def has_scope(self, token: Token | None, accepted: tuple[str, ...]) -> bool:
        if not accepted:
            return True
        if token is None:
            return False
        return token.from_github_app or any(scope in token.scopes for scope in accepted)
