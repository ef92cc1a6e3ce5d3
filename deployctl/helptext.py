"""Help in the words of a command line, not of Python: `NAME`, `--lines LINES`,
`TYPE=COUNT...` instead of Typer's `{name} <str>`, `--lines <int range>`, `<list[str]>`."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption


class _Argument(TyperArgument):
    """An argument named by its metavar alone, in the usage line and in the list."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 and not name.rstrip("]").endswith("...") else "")


def plain(command: Any) -> Any:
    """Give every argument and valued option of `command` (and its subcommands) a
    metavar in capitals, or its choices, and drop the Python type names."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.__class__ = _Argument
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
        elif isinstance(param, TyperOption) and param.metavar is None and not param.is_flag:
            described = param.type_descriptor
            if described.is_choice and described.choices:
                param.metavar = "|".join(str(choice) for choice in described.choices)
            elif param.name:
                param.metavar = param.name.upper()
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain(sub)
    return command
