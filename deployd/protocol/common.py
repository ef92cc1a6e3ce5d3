"""Types shared by every area of the protocol: strict names, roles, durations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

APP_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
PROCESS_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$"
PROCESS_FILTER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}(\.[0-9]{1,5})?$"
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,254}$"
TOKEN_LABEL_PATTERN = r"^[A-Za-z0-9 ._-]{1,64}$"  # noqa: S105 (a name pattern, not a secret)
USER_NAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
UNIX_USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}\$?$"
DURATION_PATTERN = r"^[1-9][0-9]{0,5}[smhdw]$"
EVENT_KIND_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
VERSION_PATTERN = r"^v?[0-9][0-9A-Za-z.+!-]{0,60}$"
REPOSITORY_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/"
    r"([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$"
)
"""`OWNER/NAME`, the name never `.` or `..` (the rust regex engine has no look-ahead)."""
ORG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"
DELIVERY_PATTERN = r"^[0-9A-Fa-f-]{8,64}$"

UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN)]
UnixUserName = Annotated[str, StringConstraints(pattern=UNIX_USER_PATTERN)]
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
"""A span such as `90s`, `15m`, `12h`, `7d`, `2w`."""
EventKind = Annotated[str, StringConstraints(pattern=EVENT_KIND_PATTERN, max_length=64)]

PATTERN_WORDS = {
    APP_NAME_PATTERN: "lowercase letters, digits and dashes, starting with a letter (at most 32)",
    PROCESS_TYPE_PATTERN: "letters, digits, dashes and underscores (at most 31), like web "
    "or worker",
    PROCESS_FILTER_PATTERN: "a process type (worker) or one process (worker.2)",
    ENV_NAME_PATTERN: "uppercase letters, digits and underscores, not starting with a digit",
    TOKEN_LABEL_PATTERN: "1 to 64 letters, digits, spaces, dots, dashes and underscores",
    USER_NAME_PATTERN: "lowercase letters, digits, dashes and underscores, starting with a "
    "letter or underscore (at most 32)",
    UNIX_USER_PATTERN: "a Unix user name",
    DURATION_PATTERN: "a span such as 90s, 15m, 12h, 7d or 2w",
    EVENT_KIND_PATTERN: "dotted lowercase words, like deploy.failed",
    VERSION_PATTERN: "a version, like 1.4.2 or v1.4.2",
    REPOSITORY_PATTERN: "a GitHub repository, OWNER/NAME",
    ORG_PATTERN: "a GitHub account or organisation name",
    DELIVERY_PATTERN: "a webhook delivery id, as `github deliveries` shows it",
}
"""What each pattern asks for, in words: a person is never shown a regular expression."""


def explain(exc: ValidationError, limit: int = 5) -> str:
    """A model's refusal of what was sent, in words: `name: must be lowercase ...`."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        # a mapping's key: name the field, never echo what was typed (a misplaced secret)
        where = f"{loc[0]} (a name)" if "[key]" in loc else ".".join(str(p) for p in loc)
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch":
            words = PATTERN_WORDS.get(str((error.get("ctx") or {}).get("pattern")))
            message = f"must be {words}" if words else "is not in the expected form"
        elif error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts[:limit])


class Role(StrEnum):
    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class Params(BaseModel):
    """Base of every method's params: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Result(BaseModel):
    """Base of every method's result: clients ignore fields a newer daemon adds."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class NoParams(Params):
    pass


class Identity(Result):
    """Who a connection acts as, and why (peer credentials, a token, a session)."""

    user: str
    role: Role
    unix_user: str | None = None
    peer_uid: int | None = None
    via: str = "peer"
