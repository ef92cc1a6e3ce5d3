"""The GitHub client's pure parts: where GitHub is, when a token wants refreshing, secrets
scrubbed from words, and the askpass program a fetch gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployd.domain.errors import DomainError
from deployd.sources.git_askpass import AskpassError, environment, origin, script
from deployd.sources.github import Endpoints, GitHubError, GitHubErrorKind, Grant
from deployd.sources.github.errors import Scrubber


def test_endpoints_are_checked_by_the_domains_rules() -> None:
    assert Endpoints.github_com() == Endpoints("https://api.github.com", "https://github.com")
    ghes = Endpoints.enterprise("https://ghe.example.com/")
    assert (ghes.api_url, ghes.web_url) == (
        "https://ghe.example.com/api/v3",
        "https://ghe.example.com",
    )
    assert ghes.on_web("https://ghe.example.com:443/acme/app.git")
    assert not ghes.on_web("https://ghe.example.com.evil.net/acme/app.git")
    assert not ghes.on_web("http://ghe.example.com/acme/app.git")
    assert not ghes.on_web("not a url at all ::::")
    for api, web in (
        ("http://api.example.com", "https://github.com"),
        ("https://api.github.com", "https://token@github.com"),
        ("https://169.254.169.254", "https://github.com"),
    ):
        with pytest.raises(DomainError):
            Endpoints(api, web)


def test_a_grant_hides_its_tokens_and_knows_when_to_refresh() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    grant = Grant(
        access_token="ghu_secret1",
        refresh_token="ghr_secret2",
        expires_at=now + timedelta(hours=8),
        scope="",
    )
    assert "secret" not in repr(grant) and "secret" not in str(grant)
    assert not grant.expires_within(timedelta(minutes=10), now)
    assert grant.expires_within(timedelta(hours=8), now)
    assert not Grant(access_token="gho_x").expires_within(timedelta(days=999), now)


def test_secrets_are_scrubbed_from_words() -> None:
    scrub = Scrubber(["gho_abc"])
    scrub.add("s3cret", None, "")
    assert scrub("GitHub said gho_abc and s3cret") == "GitHub said [secret] and [secret]"
    assert scrub("the device code d3v", "d3v") == "the device code [secret]"
    assert "gho_abc" not in repr(scrub)
    error = GitHubError(GitHubErrorKind.AUTH, "run `deployctl github login` again")
    assert error.kind == "auth" and str(error) == error.message


def test_the_askpass_program_names_its_host_and_holds_no_token() -> None:
    text = script("https://github.example.com/acme/app.git", "/run/deployd/askpass/f/token")
    assert "Password for '\"'\"'https://x-access-token@github.example.com" in text
    assert "exec 2>/dev/null" in text and "*) exit 1 ;;" in text
    assert "/run/deployd/askpass/f/token" in text
    assert origin("http://127.0.0.1:8080/a/b.git") == ("http", "127.0.0.1:8080")
    for bad in ("git@github.com:a/b.git", "https://x:y@github.com/a", "file:///a"):
        with pytest.raises(AskpassError):
            origin(bad)
    env = environment("/p/askpass")
    assert env["GIT_ASKPASS"] == "/p/askpass" and env["GIT_TERMINAL_PROMPT"] == "0"
    config = {
        env[f"GIT_CONFIG_KEY_{n}"]: env[f"GIT_CONFIG_VALUE_{n}"]
        for n in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert config == {
        "credential.helper": "",
        "credential.username": "x-access-token",
        "credential.useHttpPath": "false",
    }
