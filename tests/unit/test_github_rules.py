"""GitHub's rules: base URLs, webhook signatures, and what a delivery asks for."""

from __future__ import annotations

import json

import pytest

from deployd.domain import github
from deployd.domain.errors import DomainError
from deployd.domain.github import Action

SHA = "a" * 40


@pytest.mark.parametrize(
    "url",
    [
        "https://api.github.com",
        "https://github.example.com/api/v3/",
        "http://127.0.0.1:8080/api/v3",
        "http://[::1]:9000",
        "http://localhost:3000",
    ],
)
def test_base_urls_that_may_be_called(url: str) -> None:
    assert not github.check_base_url(url, "DEPLOYD_GITHUB_API_URL").endswith("/")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://github.example.com", "must be https"),
        ("https://user:pw@github.example.com", "user name or password"),
        ("https://token@github.example.com", "user name or password"),
        ("https://169.254.169.254/latest", "inside this host"),
        ("https://10.0.0.8/api/v3", "inside this host"),
        ("https://127.0.0.1/api", "inside this host"),
        ("ftp://github.example.com", "https URL"),
        ("https://github.example.com/?next=evil", "query or fragment"),
        ("file:///etc/passwd", "https URL"),
    ],
)
def test_base_urls_refused_in_words(url: str, words: str) -> None:
    with pytest.raises(DomainError, match=words):
        github.check_base_url(url, "DEPLOYD_GITHUB_API_URL")


def test_a_signature_matches_only_its_secret_and_body() -> None:
    body = b'{"ref":"refs/heads/main"}'
    signature = github.sign(b"s3cret", body)
    assert github.signed(b"s3cret", body, signature)
    assert github.signed(b"s3cret", body, signature.upper().replace("SHA256=", "sha256="))
    assert not github.signed(b"other", body, signature)
    assert not github.signed(b"s3cret", body + b" ", signature)
    assert not github.signed(b"s3cret", body, None)
    assert not github.signed(b"s3cret", body, signature.removeprefix("sha256="))
    assert not github.signed(b"s3cret", body, "sha1=" + signature[7:])


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000])
def test_a_body_that_is_not_an_object_is_refused_in_words(body: bytes) -> None:
    with pytest.raises(DomainError):
        github.payload(body)


def push(ref: str = "refs/heads/main", after: str = SHA, **more: object) -> dict[str, object]:
    return {"ref": ref, "after": after, "repository": {"full_name": "ada/shop"}, **more}


def test_a_push_to_the_followed_branch_deploys_its_commit() -> None:
    seen = github.intent("push", push(), branch="main", previews=False)
    assert seen.action is Action.DEPLOY and seen.commit == SHA and seen.branch == "main"
    assert seen.repository == "ada/shop"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (push("refs/heads/dev"), "a push to dev, not main"),
        (push("refs/tags/v1.0"), "not a branch"),
        (push(deleted=True), "was deleted"),
        (push(after="0; rm -rf /"), "without a commit"),
        (push("refs/heads/--upload-pack=evil"), "refuses"),
        (push("refs/heads/a/../../etc"), "refuses"),
        (push("refs/heads/$(id)"), "refuses"),
    ],
)
def test_pushes_that_do_not_deploy_say_why(body: dict[str, object], reason: str) -> None:
    seen = github.intent("push", body, branch="main", previews=False)
    assert seen.action is Action.NOTHING and reason in seen.reason


def test_a_ping_and_other_events_do_nothing_and_say_so() -> None:
    assert "ping" in github.intent("ping", {}, branch="main", previews=False).reason
    assert (
        "'issues' events do not deploy"
        in github.intent("issues", {}, branch="main", previews=False).reason
    )


def pull(
    action: str, head_repo: str = "ada/shop", number: int = 7, base: str = "main"
) -> dict[str, object]:
    return {
        "action": action,
        "number": number,
        "repository": {"full_name": "ada/shop"},
        "pull_request": {
            "head": {"ref": "feature/x", "sha": SHA, "repo": {"full_name": head_repo}},
            "base": {"ref": base},
        },
    }


def test_pull_requests_make_previews_only_when_asked_and_not_from_forks() -> None:
    opened = github.intent("pull_request", pull("opened"), branch="main", previews=True)
    assert opened.action is Action.PREVIEW and opened.pull_request == 7
    assert opened.branch == "feature/x" and opened.commit == SHA
    assert (
        github.intent("pull_request", pull("synchronize"), branch="main", previews=True).action
        is Action.PREVIEW
    )
    closed = github.intent("pull_request", pull("closed"), branch="main", previews=True)
    assert closed.action is Action.CLOSE_PREVIEW
    off = github.intent("pull_request", pull("opened"), branch="main", previews=False)
    assert off.action is Action.NOTHING and "previews are off" in off.reason
    fork = github.intent("pull_request", pull("opened", "eve/shop"), branch="main", previews=True)
    assert fork.action is Action.NOTHING and "fork" in fork.reason
    allowed = github.intent(
        "pull_request", pull("opened", "eve/shop"), branch="main", previews=True, forks=True
    )
    assert allowed.action is Action.PREVIEW
    elsewhere = github.intent("pull_request", pull("opened", base="develop"), branch="main",
                              previews=True)  # fmt: skip
    assert elsewhere.action is Action.NOTHING and "into 'develop', not main" in elsewhere.reason


def test_preview_names_stay_app_names() -> None:
    assert github.preview_name("shop", 12) == "shop-pr-12"
    long = github.preview_name("a" * 32, 123456)
    assert len(long) <= 32 and long.endswith("-pr-123456")
    # two long names that share their start never share a preview's name
    eu = github.preview_name("acme-storefront-production-eu", 1)
    us = github.preview_name("acme-storefront-production-us", 1)
    assert eu != us and len(eu) <= 32 and len(us) <= 32
    assert github.preview_name("a" * 26, 1) == "a" * 26 + "-pr-1"  # it fits: as it is


def test_repository_names() -> None:
    assert github.check_repository("ada/shop.web") == "ada/shop.web"
    for bad in ("ada", "ada/..", "-ada/shop", "ada/shop/x", "ada/sh op", "a" * 40 + "/x"):
        with pytest.raises(DomainError):
            github.check_repository(bad)


def test_owner_names() -> None:
    assert github.check_owner("acme-corp") == "acme-corp"
    for bad in ("", "-acme", "acme/x", "a" * 40, "ac me", "..", "acme?x=1"):
        with pytest.raises(DomainError):
            github.check_owner(bad)


def test_signatures_are_over_the_raw_bytes() -> None:
    document = {"ref": "refs/heads/main"}
    compact = json.dumps(document, separators=(",", ":")).encode()
    spaced = json.dumps(document).encode()
    assert not github.signed(b"k", spaced, github.sign(b"k", compact))
