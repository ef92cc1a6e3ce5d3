"""`--json` before the command means the same as after it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from deployctl import helptext
from deployctl.cli import app, json_after_the_command


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


def _paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _paths(sub, (*path, name))


PYTHON_WORDS = re.compile(r"<(str|int|bool|float|path|list\[|int range)|\{[a-z_]+\}")


def test_help_names_arguments_as_a_command_line_does(capsys: pytest.CaptureFixture[str]) -> None:
    root = helptext.plain(typer.main.get_command(app))
    paths = list(_paths(root))
    assert ("apps", "create") in paths and ("run",) in paths
    for path in paths:
        with pytest.raises(SystemExit):
            root.main([*path, "--help"], prog_name="deployctl")
        shown = capsys.readouterr().out
        assert "Usage: deployctl" in shown
        assert PYTHON_WORDS.search(shown) is None, (path, shown)
