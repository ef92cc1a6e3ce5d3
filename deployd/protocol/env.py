"""`env.*`: an app's config, stored encrypted, shown masked, revealed only on purpose."""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Annotated

from dotenv.parser import parse_stream
from pydantic import Field, StringConstraints

from .apps import AppName, JobInfo
from .common import ENV_NAME_PATTERN, PATTERN_WORDS, Params, Result

EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]


class EnvAppParams(Params):
    app: AppName


class EnvVar(Result):
    name: str
    value: str
    """Masked (`sk_l…****`) unless the call was `env.reveal`."""


class EnvListResult(Result):
    app: str
    version: int | None
    """The current config version; None when nothing was ever set."""
    live_version: int | None
    """The version the live release runs with: differs from `version` while a change is
    staged (`--no-restart`) for the next deploy."""
    revealed: bool
    vars: list[EnvVar]


class EnvSetParams(Params):
    app: AppName
    set: dict[EnvName, str] = Field(default_factory=dict)
    unset: list[EnvName] = Field(default_factory=list, max_length=1000)
    replace: bool = False
    """Drop every variable not in `set` (`env import --replace`)."""
    restart: bool = True
    """Apply now with a config release of the live build; False stages the change."""


class EnvSetResult(Result):
    app: str
    version: int | None
    changed: bool
    set: list[str]
    unset: list[str]
    job: JobInfo | None
    """The config release applying the change; None when staged or nothing is live."""


class EnvHistoryParams(Params):
    app: AppName
    limit: int = Field(default=20, ge=1, le=1000)


class EnvVersion(Result):
    version: int
    created_by: str | None
    created_at: datetime
    set: list[str]
    unset: list[str]
    current: bool


class EnvCompareParams(Params):
    app: AppName
    version: int | None = Field(default=None, ge=1)
    """The config version to compare with today's; None: no config at all."""


class EnvCompareResult(Result):
    """What would change, by name only, if `version` became the config again (as a
    rollback to a release that ran with it does): never a value."""

    app: str
    current: int | None
    version: int | None
    back: list[str]
    """Names `version` has and today's config has not."""
    gone: list[str]
    """Names today's config has and `version` has not."""
    changed: list[str]
    """Names both have, with another value."""


class EnvHistoryResult(Result):
    app: str
    versions: list[EnvVersion]


def dotenv_assignments(text: str) -> dict[str, str]:
    """The variables of a dotenv text (NAME=value lines; quotes, comments and `export`
    allowed; `${X}` kept as written): what `env import` sets, from a file or a form.

    Raises ValueError naming the lines that are not assignments of a variable's name
    (python-dotenv would skip them with a warning: a value lost without a word), by number
    only: a line that is not one may well be a secret pasted whole.
    """
    values: dict[str, str] = {}
    bad: list[int] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error or (binding.key is not None and binding.value is None):
            bad.append(binding.original.line)
        elif binding.key is not None and binding.value is not None:
            if re.fullmatch(ENV_NAME_PATTERN, binding.key):
                values[binding.key] = binding.value
            else:
                bad.append(binding.original.line)
    if bad:
        lines = ", ".join(map(str, bad[:10])) + (", …" if len(bad) > 10 else "")
        said = f"line {lines} is not" if len(bad) == 1 else f"lines {lines} are not"
        raise ValueError(
            f"{said} NAME=value (NAME: {PATTERN_WORDS[ENV_NAME_PATTERN]}; NAME= for an empty "
            "value; a quote left open runs on to the next line)"
        )
    return values
