"""Domain names are checked strictly before they reach nginx, certbot or the filesystem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployd.domain.domains import CertState, normalize, renewal_due, retry_at
from deployd.domain.errors import DomainError


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("shop.example.com", "shop.example.com"),
        ("Shop.Example.COM.", "shop.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example", "a-b.c-d.example"),
        ("日本語.jp", "xn--wgv71a119e.jp"),
    ],
)
def test_good_domains_are_lowercased_and_idna_encoded(typed: str, stored: str) -> None:
    assert normalize(typed) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "a..b",
        "-x.com",
        "x-.com",
        "x" * 300 + ".com",
        ("a" * 63 + ".") * 4 + "com",
        "ex\u0430mple.com",  # a Cyrillic a among Latin letters
        "$(id).com",
        "x.com;",
        "x.com; include /etc/passwd",
        "*.example.com",
        "localhost",
        "127.0.0.1",
        "exa mple.com",
        "a/b.com",
        "",
        "a\x00b.com",
        "x.com\nserver_name evil",
    ],
)
def test_bad_domains_are_refused(bad: str) -> None:
    with pytest.raises(DomainError):
        normalize(bad)


NOW = datetime(2026, 11, 26, tzinfo=UTC)


def test_renewal_is_due_thirty_days_before_expiry() -> None:
    assert not renewal_due(CertState(NOW + timedelta(days=31), 0, None), NOW)
    assert renewal_due(CertState(NOW + timedelta(days=29), 0, None), NOW)


def test_failed_renewals_back_off_to_a_few_tries_a_day() -> None:
    failed = CertState(NOW + timedelta(days=5), 1, NOW - timedelta(hours=1))
    assert not renewal_due(failed, NOW)
    assert retry_at(failed) == NOW + timedelta(hours=5)
    assert renewal_due(failed, NOW + timedelta(hours=6))
    many = CertState(NOW + timedelta(days=5), 9, NOW)
    assert retry_at(many) == NOW + timedelta(hours=24)
