"""The rules of an app's config: names, values, versions."""

from __future__ import annotations

import pytest

from deployd.domain.envvars import MAX_ENTRY_BYTES, apply, check_name, check_value, display
from deployd.domain.errors import DomainError


@pytest.mark.parametrize("name", ["A", "_X", "STRIPE_KEY", "A1_B2"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "lower", "1ABC", "A-B", "A B", "A=B", "$(id)", "É", "PORT", "DEPLOYD_APP"]
)
def test_bad_and_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(DomainError):
        check_name(name)


def test_values_keep_anything_but_nul() -> None:
    assert check_value("A", 'multi\nline "quoted" $HOME = ünïcode') is not None
    with pytest.raises(DomainError, match="NUL"):
        check_value("A", "a\x00b")


def test_a_value_the_kernel_would_refuse_is_refused_with_the_reason() -> None:
    check_value("A", "x" * (MAX_ENTRY_BYTES - 2))
    with pytest.raises(DomainError, match="kernel"):
        check_value("A", "x" * MAX_ENTRY_BYTES)


def test_apply_reports_what_changed() -> None:
    change = apply({"A": "1", "B": "2"}, {"B": "2", "C": "3"}, ["A"])
    assert change.values == {"B": "2", "C": "3"}
    assert change.set == ("C",) and change.unset == ("A",)


def test_setting_the_same_value_changes_nothing() -> None:
    assert apply({"A": "1"}, {"A": "1"}).empty


def test_replace_drops_everything_not_given() -> None:
    change = apply({"A": "1", "B": "2"}, {"B": "3"}, replace=True)
    assert change.values == {"B": "3"} and change.unset == ("A",) and change.set == ("B",)


def test_unsetting_what_is_not_set_is_an_error() -> None:
    with pytest.raises(DomainError, match="not set"):
        apply({"A": "1"}, {}, ["B"])


def test_display_hides_short_values_entirely() -> None:
    assert display("hunter2") == "****"
    assert display("a-sixteen-chars!") == "****"  # a password: nothing of it shows
    assert display("sk_live_0123456789abcdef") == "sk_l…****"


def test_two_configs_are_compared_by_name_never_by_value() -> None:
    from deployd.domain.envvars import compare, difference

    today = {"DATABASE_URL": "postgres://a", "FOO": "1", "BAR": "x"}
    then = {"FOO": "2", "OLD": "y"}
    found = compare(today, then)
    assert (found.back, found.gone, found.changed) == (("OLD",), ("BAR", "DATABASE_URL"), ("FOO",))
    assert difference(today, then) == "OLD comes back, BAR goes, DATABASE_URL goes, FOO changes"
