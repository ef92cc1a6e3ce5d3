"""What can go wrong talking to GitHub, as one exception with a kind and words.

The kind is for the service (which maps it to a protocol error kind); the message is for a
person and never carries a token, a refresh token, a device code or a webhook secret: the
client scrubs every message it builds of the secrets it holds (`Scrubber`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

LOGIN_AGAIN = "run `deployctl github login` again"


class GitHubErrorKind(StrEnum):
    AUTH = "auth"
    """The token is missing, expired or revoked (or a login was not finished): log in again."""
    FORBIDDEN = "forbidden"
    """The token may not do this (a scope or a permission is missing), or access was denied."""
    NOT_FOUND = "not_found"
    """No such thing, or the token may not see it (GitHub answers 404 for both)."""
    REFUSED = "refused"
    """GitHub understood the request and refused it (400, 409, 422): the words say why."""
    RATE_LIMITED = "rate_limited"
    """The API allowance is spent; `reset_at` says when it comes back."""
    UNAVAILABLE = "unavailable"
    """GitHub could not be reached or kept failing (5xx, network) after the retries."""
    INVALID = "invalid"
    """GitHub's answer was not what GitHub answers: too large, not JSON, the wrong shape,
    or a redirect or link to another host."""


class GitHubError(Exception):
    def __init__(
        self, kind: GitHubErrorKind, message: str, *, reset_at: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.reset_at = reset_at
        """When a spent rate limit comes back (RATE_LIMITED only)."""

    def __repr__(self) -> str:
        return f"GitHubError({self.kind.value}, {self.message!r})"


class Scrubber:
    """Removes secrets from text meant for people (GitHub's own words included: a
    hostile or confused server may echo what it was sent)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = {s for s in secrets if s}

    def add(self, *secrets: str | None) -> None:
        self._secrets.update(s for s in secrets if s)

    def __call__(self, text: str, *extra: str | None) -> str:
        for secret in sorted(self._secrets | {s for s in extra if s}, key=len, reverse=True):
            text = text.replace(secret, "[secret]")
        return text

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} secrets)"
