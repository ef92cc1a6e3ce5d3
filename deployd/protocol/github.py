"""`github.*`: one GitHub account for the server, and the repositories it can see.

`github.login` is a stream: the first answer is the device code to show the person, then
`github.login.progress` notifications until they approved it (or did not, or it expired).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .apps import AppName, GitRef
from .common import DELIVERY_PATTERN, ORG_PATTERN, REPOSITORY_PATTERN, Params, Result

Repository = Annotated[str, StringConstraints(pattern=REPOSITORY_PATTERN)]
"""`OWNER/NAME`."""
Org = Annotated[str, StringConstraints(pattern=ORG_PATTERN)]

LOGIN_NOTIFICATION = "github.login.progress"


class GithubLoginStarted(Result):
    user_code: str
    verification_uri: str
    expires_in: int
    """Seconds the code stays valid."""


class GithubLoginProgress(Result):
    state: Literal["waiting", "slow_down", "done", "denied", "expired", "failed"]
    message: str
    login: str | None = None
    """The GitHub account, once done."""


class GithubAccount(Result):
    login: str | None
    """None: nobody has logged in (`deployctl github login`)."""
    scope: str | None = None
    logged_in_at: datetime | None = None
    logged_in_by: str | None = None
    expires_at: datetime | None = None
    """When the token runs out (it is renewed before); None for tokens that do not."""
    api_url: str
    client_id: str | None


class GithubReposParams(Params):
    org: Org | None = None


class GithubRepo(Result):
    full_name: str
    private: bool
    default_branch: str
    html_url: str


class GithubReposResult(Result):
    repos: list[GithubRepo]


class GithubBranchesParams(Params):
    repo: Repository


class GithubBranch(Result):
    name: str
    sha: str
    protected: bool


class GithubBranchesResult(Result):
    repo: str
    branches: list[GithubBranch]


HOOK_PATH = "/hooks/github"
"""Where `deployd web` receives GitHub's webhooks."""
MAX_HOOK_BODY_BYTES = 25 * 1024 * 1024
"""GitHub sends nothing larger; `deployd web` refuses a larger body before reading it."""


class HookVerdict(StrEnum):
    DEPLOYED = "deployed"
    IGNORED = "ignored"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class HookDeliveryParams(Params):
    """A webhook as `deployd web` received it: the headers that matter and the raw body,
    base64 (the signature is over its exact bytes). The daemon checks it: the secret never
    leaves the daemon."""

    event: Annotated[str, StringConstraints(max_length=100)] = ""
    """X-GitHub-Event."""
    delivery: Annotated[str, StringConstraints(max_length=100)] = ""
    """X-GitHub-Delivery."""
    signature: Annotated[str, StringConstraints(max_length=200)] = ""
    """X-Hub-Signature-256 (`sha256=<hex>`)."""
    hook_id: Annotated[str, StringConstraints(max_length=40)] = ""
    """X-GitHub-Hook-ID."""
    body: str = ""
    """The raw body, base64."""
    too_large: int | None = None
    """Set instead of `body` when the body was refused for its size (its Content-Length)."""


class HookDeliveryResult(Result):
    status: int
    """The HTTP status `deployd web` answers GitHub with."""
    verdict: HookVerdict
    reason: str
    job: int | None = None


class GithubConnectParams(Params):
    app: AppName
    repo: Repository
    branch: GitRef | None = None
    """None: the repository's default branch."""
    previews: bool = False
    """Pull requests from the same repository get preview apps."""
    deploy: bool = True
    """Deploy the branch's head now (the CLI follows the job)."""
    preview_exclude: list[Annotated[str, StringConstraints(max_length=255)]] = Field(
        default_factory=list, max_length=100
    )
    """Variables of the app its previews are not given (besides its databases' URLs)."""


class GithubConnection(Result):
    app: str
    repo: str
    branch: str
    hook_id: int | None
    hook_url: str
    previews: bool
    private: bool = False
    created_app: bool = False
    """The app did not exist: connect made it."""
    connected_by: str | None = None
    connected_at: datetime | None = None
    job: int | None = None
    """The deploy it started."""
    preview_apps: list[str] = Field(default_factory=list)
    preview_exclude: list[str] = Field(default_factory=list)


class GithubAppParams(Params):
    app: AppName


class GithubDeliveriesParams(Params):
    app: AppName
    limit: int = Field(default=50, ge=1, le=1000)


class GithubDelivery(Result):
    id: int
    received_at: datetime
    delivery: str
    event: str
    verdict: HookVerdict
    reason: str
    commit: str | None = None
    target: str | None = None
    """The app it deployed (the app, or a preview of it)."""
    job: int | None = None
    reported: str
    """Statuses on GitHub: no, pending, done, gave_up."""
    report_error: str | None = None


class GithubDeliveriesResult(Result):
    app: str
    deliveries: list[GithubDelivery]


class GithubRedeliverParams(Params):
    app: AppName
    delivery: Annotated[str, StringConstraints(pattern=DELIVERY_PATTERN)]
    """X-GitHub-Delivery, as `github deliveries` shows it."""


class GithubRedeliverResult(Result):
    app: str
    delivery: str
    message: str


class GithubDisconnectResult(Result):
    app: str
    repo: str
    hook_removed: bool
    message: str
    previews_removed: list[str] = Field(default_factory=list)
