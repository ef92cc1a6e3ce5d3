"""Small pure rules: durations, credentials, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deployd.domain.credentials import check_password, looks_like_token, token_digest
from deployd.domain.durations import parse_duration
from deployd.domain.errors import DomainError
from deployd.domain.roles import ROLE_RANK, Actor, check_removal, may_act_on_user, role_allows
from deployd.protocol.common import Role


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "7", "d", "1y", "-1d", "1.5h", "1d ", "9999999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("password", ["short", "é" * 37, "has\x00nul-inside"])
def test_passwords_bcrypt_could_not_store_faithfully_are_refused(password: str) -> None:
    with pytest.raises(DomainError):
        check_password(password)


def test_reasonable_passwords_pass() -> None:
    check_password("correct horse battery staple")
    check_password("x" * 72)


def test_tokens_are_stored_as_a_digest() -> None:
    assert token_digest("dpd_abc") != b"dpd_abc" and len(token_digest("dpd_abc")) == 32
    assert looks_like_token("dpd_" + "a" * 40) and not looks_like_token("abc")


def test_role_order_covers_every_protocol_role() -> None:
    assert set(ROLE_RANK) == {r.value for r in Role}
    order = [Role.VIEWER, Role.DEPLOYER, Role.ADMIN]
    for i, held in enumerate(order):
        for j, required in enumerate(order):
            assert role_allows(held, required) is (i >= j)


def test_only_admins_act_on_others() -> None:
    assert may_act_on_user(Actor("a", "admin"), "b")
    assert may_act_on_user(Actor("v", "viewer"), "v")
    assert not may_act_on_user(Actor("d", "deployer"), "v")


@pytest.mark.parametrize(
    ("target", "builtin", "left", "message"),
    [("admin", True, 3, "built-in"), ("me", False, 3, "yourself"), ("bob", False, 0, "last")],
)
def test_removal_rules(target: str, builtin: bool, left: int, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        check_removal(target, builtin=builtin, admins_left_after=left, actor=Actor("me", "admin"))
    check_removal("bob", builtin=False, admins_left_after=1, actor=Actor("me", "admin"))


def test_slot_ports_in_the_ephemeral_range_are_found() -> None:
    from deployd.domain.ports import ephemeral_overlap

    assert ephemeral_overlap(range(20000, 30000), range(32768, 61000)) is None
    assert ephemeral_overlap(range(30000, 40000), range(32768, 61000)) == range(32768, 40000)
