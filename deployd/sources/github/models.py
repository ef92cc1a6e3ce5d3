"""What the GitHub client gives back: frozen, typed records of the fields deployd reads.

Each is validated from GitHub's JSON (extra fields ignored); secrets (tokens, device
codes) are left out of every repr.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import AliasPath, BaseModel, ConfigDict, Field

from deployd.domain.github import check_base_url

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str | httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS.get(parsed.scheme, 0)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where GitHub is: its API and its web side (OAuth, git). Both are checked by the
    domain's rules (https, or http only to loopback; no credentials; not inside the host's
    networks); DomainError otherwise."""

    api_url: str
    web_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_url", check_base_url(self.api_url, "the GitHub API URL"))
        object.__setattr__(self, "web_url", check_base_url(self.web_url, "the GitHub URL"))

    @classmethod
    def github_com(cls) -> Endpoints:
        return cls("https://api.github.com", "https://github.com")

    @classmethod
    def enterprise(cls, web_url: str) -> Endpoints:
        """A GitHub Enterprise Server host: the API under `<web>/api/v3`."""
        web = web_url.rstrip("/")
        return cls(f"{web}/api/v3", web)

    def on_web(self, url: str) -> bool:
        """Whether `url` is on GitHub's web host (a clone URL must be: the token goes there)."""
        try:
            return origin(url) == origin(self.web_url)
        except httpx.InvalidURL:
            return False


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class DeviceCode(_Model):
    """The start of a device-flow login: show `user_code` and `verification_uri`."""

    client_id: str
    user_code: str
    verification_uri: str
    expires_in: int = Field(gt=0)
    interval: int = Field(ge=0)
    device_code: str = Field(repr=False)


class Grant(_Model):
    """A token from the device flow or a refresh. `expires_at` is None for tokens that do
    not expire (OAuth apps); GitHub Apps' user tokens expire and come with a refresh token."""

    access_token: str = Field(repr=False, min_length=1)
    refresh_token: str | None = Field(default=None, repr=False)
    expires_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None
    scope: str = ""

    def expires_within(self, margin: timedelta, now: datetime | None = None) -> bool:
        """Whether the token will have expired `margin` from now (refresh it then)."""
        if self.expires_at is None:
            return False
        return self.expires_at <= (now or datetime.now(UTC)) + margin


class GitHubUser(_Model):
    login: str
    id: int
    name: str | None = None


class Repository(_Model):
    full_name: str
    private: bool
    default_branch: str
    clone_url: str
    html_url: str
    admin: bool = Field(default=False, validation_alias=AliasPath("permissions", "admin"))
    """Whether the token may manage the repository's webhooks."""
    archived: bool = False
    description: str | None = None


class Branch(_Model):
    name: str
    sha: str = Field(validation_alias=AliasPath("commit", "sha"), pattern=r"^[0-9a-f]{40}$")
    protected: bool = False


class Hook(_Model):
    id: int
    url: str = Field(validation_alias=AliasPath("config", "url"))
    events: tuple[str, ...] = ()
    active: bool = True


class HookDelivery(_Model):
    """One attempt GitHub made to deliver an event to a webhook (newest first in lists)."""

    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    duration: float
    status: str
    """GitHub's words: "OK", "Invalid HTTP Response: 500", ..."""
    status_code: int
    event: str
    action: str | None = None
