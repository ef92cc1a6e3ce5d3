"""The env file a slot gets: the exact environment its process starts with.

One `NAME="value"` line per variable, the value in double quotes with `\\`, `"`, newline,
carriage return and tab escaped, everything else as it is: every value without a NUL
survives the round trip, and the file reads the same with dotenv tools. The platform's
variables (PORT, PATH, DEPLOYD_*) come first; the app's own config follows a marker line,
so whoever reads the file can tell the two apart (the launcher masks only the app's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

APP_MARKER = "# app config"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}
_LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\[\\"nrt])*)"$')
_ESCAPED = re.compile(r"\\(.)")


def _quote(value: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def _unquote(body: str) -> str:
    return _ESCAPED.sub(lambda m: _UNESCAPES[m[1]], body)


def render(platform: Mapping[str, str], app: Mapping[str, str], header: str) -> str:
    lines = [f"# {header}"]
    lines += [f"{name}={_quote(value)}" for name, value in platform.items()]
    lines.append(APP_MARKER)
    lines += [f"{name}={_quote(value)}" for name, value in sorted(app.items())]
    return "\n".join(lines) + "\n"


def parse(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(platform variables, app config) of a file `render` wrote."""
    platform: dict[str, str] = {}
    app: dict[str, str] = {}
    target = platform
    for number, line in enumerate(text.split("\n"), 1):
        if line == APP_MARKER:
            target = app
            continue
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f'line {number} of the env file is not NAME="value"')
        target[match[1]] = _unquote(match[2])
    return platform, app
