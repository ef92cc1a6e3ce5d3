"""GitHub's rules, without I/O: which base URLs may be called, whether a webhook is
signed by the secret we gave it, and what a delivery asks for.

The daemon is root and the URLs are settings an operator types: an address that reaches
inside the host (the SSRF class of CVE-2026-34170) is refused unless it is an explicit
loopback stand-in over plain HTTP, and no URL may carry credentials. A webhook's body is
hostile until its HMAC matches, and even then every branch and repository name in it is
checked before it reaches git.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from .apps import REF
from .errors import DomainError
from .text import excerpt

OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
"""A GitHub user or organisation login."""
REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
"""`owner/name` as GitHub allows them (and never `.` or `..` as the name)."""
SIGNATURE_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def check_repository(full_name: str) -> str:
    if not REPOSITORY.fullmatch(full_name) or full_name.split("/")[1] in (".", ".."):
        raise DomainError(f"not a GitHub repository name (OWNER/NAME): {excerpt(full_name)}")
    return full_name


def check_owner(login: str) -> str:
    if not OWNER.fullmatch(login):
        raise DomainError(f"not a GitHub user or organisation name: {excerpt(login)}")
    return login


def check_base_url(url: str, what: str) -> str:
    """An https URL without credentials, query or fragment; http only to a loopback
    address (a local stand-in). Returns it without a trailing slash."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise DomainError(f"{what} may not carry a user name or password: {excerpt(url)}")
    if parts.query or parts.fragment:
        raise DomainError(f"{what} may not have a query or fragment: {excerpt(url)}")
    host = parts.hostname or ""
    if parts.scheme == "http":
        if not _loopback(host):
            raise DomainError(f"{what} must be https (http only to a loopback address)")
    elif parts.scheme != "https" or not host:
        raise DomainError(f"{what} must be an https URL: {excerpt(url)}")
    elif _internal(host):
        raise DomainError(f"{what} may not point inside this host's networks: {excerpt(url)}")
    return url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _internal(host: str) -> bool:
    """A literal address that is not on the internet (names are resolved by the client,
    which refuses redirects to another host)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return not address.is_global


def signed(secret: bytes, body: bytes, signature: str | None) -> bool:
    """Whether `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body under `secret`,
    compared in constant time."""
    if not signature or not signature.startswith(SIGNATURE_PREFIX):
        return False
    given = signature[len(SIGNATURE_PREFIX) :].strip().lower()
    if not _HEX_DIGEST.fullmatch(given):  # compare_digest takes ASCII only
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def sign(secret: bytes, body: bytes) -> str:
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Verdict(StrEnum):
    DEPLOYED = "deployed"
    IGNORED = "ignored"
    REJECTED = "rejected"


class Action(StrEnum):
    """What a verified delivery asks deployd to do."""

    DEPLOY = "deploy"
    PREVIEW = "preview"
    """Deploy (or create and deploy) the preview app of a pull request."""
    CLOSE_PREVIEW = "close_preview"
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True)
class Intent:
    action: Action
    reason: str
    """Why, in words (shown by `github deliveries`)."""
    repository: str | None = None
    branch: str | None = None
    commit: str | None = None
    pull_request: int | None = None


def payload(body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery, or DomainError in words."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise DomainError("the body is not JSON") from None
    except RecursionError:
        raise DomainError("the body is nested too deeply") from None
    if not isinstance(document, dict):
        raise DomainError("the body is JSON but not an object")
    return document


def intent(
    event: str, body: dict[str, Any], *, branch: str, previews: bool, forks: bool = False
) -> Intent:
    """What a verified delivery of `event` asks of an app that follows `branch`."""
    repository = _text(body.get("repository"), "full_name")
    if event == "ping":
        return Intent(Action.NOTHING, "ping: GitHub checking the webhook", repository)
    if event == "push":
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref.startswith("refs/heads/"):
            return Intent(
                Action.NOTHING, f"a push to {excerpt(str(ref))}, not a branch", repository
            )
        pushed = ref.removeprefix("refs/heads/")
        if not REF.fullmatch(pushed) or ".." in pushed:
            return Intent(
                Action.NOTHING, f"a branch name deployd refuses: {excerpt(pushed)}", repository
            )
        if pushed != branch:
            return Intent(Action.NOTHING, f"a push to {pushed}, not {branch}", repository, pushed)
        if body.get("deleted"):
            return Intent(Action.NOTHING, f"{pushed} was deleted", repository, pushed)
        commit = body.get("after")
        if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
            return Intent(Action.NOTHING, "a push without a commit", repository, pushed)
        return Intent(Action.DEPLOY, f"a push to {pushed}", repository, pushed, commit)
    if event == "pull_request":
        return _pull_request(body, repository, branch=branch, previews=previews, forks=forks)
    return Intent(Action.NOTHING, f"{excerpt(event, 40)} events do not deploy", repository)


def _pull_request(
    body: dict[str, Any], repository: str | None, *, branch: str, previews: bool, forks: bool
) -> Intent:
    action = body.get("action")
    pull = _object(body.get("pull_request"))
    number = body.get("number")
    if not isinstance(number, int) or number < 1:
        return Intent(Action.NOTHING, "a pull request without a number", repository)
    if not previews:
        return Intent(
            Action.NOTHING, "previews are off for this app", repository, pull_request=number
        )
    base = _object(pull.get("base")).get("ref")
    if base != branch:
        return Intent(
            Action.NOTHING,
            f"#{number} is into {excerpt(str(base), 60)}, not {branch}",
            repository,
            pull_request=number,
        )
    head = _object(pull.get("head"))
    head_repository = _text(head.get("repo"), "full_name")
    if head_repository != repository and not forks:
        return Intent(
            Action.NOTHING,
            f"#{number} comes from a fork ({excerpt(str(head_repository))})",
            repository,
            pull_request=number,
        )
    if action == "closed":
        return Intent(Action.CLOSE_PREVIEW, f"#{number} closed", repository, pull_request=number)
    if action not in ("opened", "reopened", "synchronize"):
        return Intent(
            Action.NOTHING, f"#{number} {excerpt(str(action), 30)}", repository, pull_request=number
        )
    head_branch = head.get("ref")
    commit = head.get("sha")
    if not isinstance(head_branch, str) or not REF.fullmatch(head_branch) or ".." in head_branch:
        return Intent(
            Action.NOTHING,
            f"#{number}: a branch name deployd refuses",
            repository,
            pull_request=number,
        )
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
        return Intent(
            Action.NOTHING, f"#{number} without a commit", repository, pull_request=number
        )
    return Intent(Action.PREVIEW, f"#{number} {action}", repository, head_branch, commit, number)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(parent: object, key: str) -> str | None:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, str) else None


def preview_name(app: str, number: int) -> str:
    """`<app>-pr-<n>`; an app name too long for that (32 characters at most) is cut and
    marked with a short hash of it, so two long names never share a preview's."""
    suffix = f"-pr-{number}"
    if len(app) + len(suffix) <= 32:
        return app + suffix
    mark = "-" + hashlib.sha256(app.encode()).hexdigest()[:4]
    room = 32 - len(suffix) - len(mark)
    if room < 1:
        raise DomainError(f"pull request number {number} is too large for a preview name")
    return app[:room].rstrip("-") + mark + suffix
