"""`--json` before the command means the same as after it."""

from __future__ import annotations

import pytest

from deployctl.cli import json_after_the_command


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["--json", "apps", "list"], ["apps", "list", "--json"]),
        (["--socket", "/s", "--json", "status"], ["--socket", "/s", "status", "--json"]),
        (
            ["--json", "run", "shop", "--", "ls", "-la"],
            ["run", "shop", "--json", "--", "ls", "-la"],
        ),
        (["apps", "list", "--json"], ["apps", "list", "--json"]),
        (["--json"], ["--json"]),
        (["run", "shop", "--", "echo", "--json"], ["run", "shop", "--", "echo", "--json"]),
    ],
)
def test_json_moves_after_the_command(typed: list[str], meant: list[str]) -> None:
    assert json_after_the_command(typed) == meant
