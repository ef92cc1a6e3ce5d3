"""`github.*`: one GitHub account for the server, and the repositories it can see.

`github.login` is a stream: the first answer is the device code to show the person, then
`github.login.progress` notifications until they approved it (or did not, or it expired).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

from .common import ORG_PATTERN, REPOSITORY_PATTERN, Params, Result

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
