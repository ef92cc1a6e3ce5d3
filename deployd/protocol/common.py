"""Types shared by every area of the protocol: strict names, roles, durations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

USER_NAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
UNIX_USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}\$?$"
DURATION_PATTERN = r"^[1-9][0-9]{0,5}[smhdw]$"
EVENT_KIND_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"

UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN)]
UnixUserName = Annotated[str, StringConstraints(pattern=UNIX_USER_PATTERN)]
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
"""A span such as `90s`, `15m`, `12h`, `7d`, `2w`."""
EventKind = Annotated[str, StringConstraints(pattern=EVENT_KIND_PATTERN, max_length=64)]


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
