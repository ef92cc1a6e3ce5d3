"""`users.*`, `tokens.*` and `auth.*`: people, their roles and their credentials.

Password and token fields are plain strings with `repr=False`: they must reach the daemon
intact (SecretStr would serialise as stars) and must never show up in a repr or a log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from .common import (
    TOKEN_LABEL_PATTERN,
    Duration,
    Identity,
    Params,
    Result,
    Role,
    UnixUserName,
    UserName,
)

Password = Annotated[str, Field(min_length=8, max_length=200, repr=False)]
Token = Annotated[str, Field(min_length=8, max_length=200, repr=False)]


class UserInfo(Result):
    name: str
    role: Role
    unix_user: str | None
    has_password: bool
    builtin: bool
    created_at: datetime


class UsersListResult(Result):
    users: list[UserInfo]


class UsersAddParams(Params):
    name: UserName
    role: Role
    unix_user: UnixUserName | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200, repr=False)
    """None: the daemon generates one and returns it once."""


class UsersAddResult(Result):
    user: UserInfo
    generated_password: str | None = Field(default=None, repr=False)


class UsersPasswdParams(Params):
    name: UserName
    password: str | None = Field(default=None, min_length=8, max_length=200, repr=False)


class UsersPasswdResult(Result):
    name: str
    generated_password: str | None = Field(default=None, repr=False)


class UserNameParams(Params):
    name: UserName


class UsersRemoveResult(Result):
    name: str
    tokens_revoked: int


class TokensCreateParams(Params):
    name: UserName
    label: Annotated[str, Field(pattern=TOKEN_LABEL_PATTERN)] = "api"
    ttl: Duration = "30d"


class TokenInfo(Result):
    id: int
    user: str
    kind: str
    label: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


class TokenCreated(Result):
    token: str = Field(repr=False)
    info: TokenInfo


class TokensListParams(Params):
    name: UserName | None = None


class TokensListResult(Result):
    tokens: list[TokenInfo]


class TokenIdParams(Params):
    id: int


class LoginParams(Params):
    name: UserName
    password: Password
    ttl: Duration = "12h"


class AuthenticateParams(Params):
    token: Token


class AuthenticateResult(Result):
    identity: Identity
