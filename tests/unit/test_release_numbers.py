"""Releases are named as `deployctl releases` shows them (v3), or by their bare number."""

from __future__ import annotations

import pytest
import typer

from deployctl.commands.deploys import release_number


@pytest.mark.parametrize(("typed", "number"), [("v3", 3), ("3", 3), ("V12", 12), (" v7 ", 7)])
def test_a_release_is_its_number_with_or_without_v(typed: str, number: int) -> None:
    assert release_number(typed) == number


@pytest.mark.parametrize(
    "typed", ["", "v", "v0", "0", "-1", "v3a", "²", "\uff11", "1" * 10, "latest"]
)
def test_anything_else_is_refused_in_words(typed: str) -> None:
    with pytest.raises(typer.BadParameter, match="name it as `releases` does"):
        release_number(typed)
