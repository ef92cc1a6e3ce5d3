"""`github.*`: one GitHub account for the server, its repositories, and apps that deploy
on push.

`github.login` is a stream: the first answer is the device code to show the person, then
`github.login.progress` notifications until they approved it (or did not, or it expired).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .apps import AppName, GitRef, JobInfo
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


class GithubConnectParams(Params):
    app: AppName
    repo: Repository
    branch: GitRef | None = None
    """The repository's default branch when None."""
    previews: bool = False
    """Pull requests get preview apps `<app>-pr-<n>`."""
    forks: bool = False
    """Previews for pull requests from forks too (their code runs on this server)."""


class GithubConnection(Result):
    app: str
    repo: str
    branch: str
    hook_id: int | None
    previews: bool
    forks: bool
    connected_at: datetime
    connected_by: str | None


class GithubConnectResult(Result):
    connection: GithubConnection
    job: JobInfo | None
    """The first deploy."""


class GithubAppParams(Params):
    app: AppName


class GithubDelivery(Result):
    delivery_id: str
    event: str
    received_at: datetime
    verdict: Literal["deployed", "ignored", "rejected"]
    reason: str
    job: int | None = None


class GithubDeliveriesParams(Params):
    app: AppName
    limit: int = Field(default=50, ge=1, le=1000)


class GithubDeliveriesResult(Result):
    app: str
    deliveries: list[GithubDelivery]


class GithubRedeliverParams(Params):
    app: AppName
    delivery: Annotated[str, StringConstraints(pattern=DELIVERY_PATTERN)]


class GithubDisconnectResult(Result):
    app: str
    repo: str
    hook_removed: bool
    """False when GitHub could not be told (the hook stays there; remove it by hand)."""
    detail: str | None = None
