"""`env.*`: an app's config, stored encrypted, shown masked, revealed only on purpose."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

from dotenv.parser import parse_stream
from pydantic import Field, StringConstraints

from .apps import AppName, JobInfo
from .common import ENV_NAME_PATTERN, Params, Result

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

    Raises ValueError naming the lines that are not assignments (python-dotenv would skip
    them with a warning: a value lost without a word) and the variables without a value
    (a bare `NAME` line), never quoting a value. Names are checked by `EnvSetParams`.
    """
    values: dict[str, str] = {}
    unreadable: list[int] = []
    missing: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            unreadable.append(binding.original.line)
        elif binding.key is not None and binding.value is None:
            missing.append(binding.key)
        elif binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    if unreadable:
        lines = ", ".join(map(str, unreadable[:10])) + (", …" if len(unreadable) > 10 else "")
        raise ValueError(
            f"line {lines} is not NAME=value (a quote left open runs on to the next one)"
            if len(unreadable) == 1
            else f"lines {lines} are not NAME=value (a quote left open runs on to the next one)"
        )
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} (write NAME= for an empty one)")
    return values
