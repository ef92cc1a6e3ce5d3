"""The web process's way to the daemon: a connection of its own for every request.

Measured against keeping one connection (docs/benchmarks.md): a new connection costs the
daemon's peer check, under a millisecond, against a budget of a second. For that, a call
shares nothing with another: a line the daemon refuses (and closes the connection for)
fails only its own request, and nothing is ever written into a connection the daemon is
just closing for idleness. A webhook call that fails is not sent again: GitHub's
redelivery is the retry, and the daemon dedupes it on the delivery id.

A page is asked for as the person logged in: `as_user(token)` opens a connection that
presents their session token (`auth.authenticate`) before anything else, so the daemon's
roles, masking and audit apply to them and never to this process's own account.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from deployctl.aio import AsyncClient
from deployctl.client import DaemonUnreachable
from deployd.protocol.common import Identity
from deployd.protocol.errors import ErrorKind, RpcError
from deployd.protocol.users import AuthenticateParams, AuthenticateResult, LoginParams, TokenCreated

M = TypeVar("M", bound=BaseModel)

CALL_TIMEOUT = 10.0
"""Seconds the daemon has to answer: GitHub gives up on a delivery after ten."""


class TokenRefused(Exception):
    """The daemon no longer takes a session's token (revoked, expired, its user removed)."""


class UserConnection:
    """A connection acting as a logged-in person: every call is theirs."""

    def __init__(self, client: AsyncClient, identity: Identity, timeout: float) -> None:
        self.client = client
        self.identity = identity
        self.timeout = timeout

    async def call(
        self, result: type[M], method: str, params: BaseModel, timeout: float | None = None
    ) -> M:
        """The daemon's answer within `timeout` (the link's unless a call says it may take
        longer: a backup of a large database)."""
        async with asyncio.timeout(timeout or self.timeout):
            return await self.client.call_as(result, method, params)

    async def stream(
        self, method: str, params: BaseModel
    ) -> tuple[Any, AsyncIterator[dict[str, Any]]]:
        """The first answer within the timeout, then the notifications for as long as the
        daemon sends them (a stream takes the connection)."""
        async with asyncio.timeout(self.timeout):
            return await self.client.stream(method, params)


class DaemonLink:
    def __init__(self, socket: Path, *, timeout: float = CALL_TIMEOUT) -> None:
        self.socket = socket
        self.timeout = timeout

    async def call(self, result: type[M], method: str, params: BaseModel) -> M:
        """The daemon's answer; raises DaemonUnreachable, RpcError or TimeoutError."""
        async with asyncio.timeout(self.timeout):
            client = await AsyncClient.connect(self.socket)
            try:
                return await client.call_as(result, method, params)
            finally:
                await client.close()

    async def login(self, params: LoginParams) -> TokenCreated:
        """A password traded for a daemon session token (the daemon checks and audits it)."""
        return await self.call(TokenCreated, "auth.login", params)

    @asynccontextmanager
    async def as_user(self, token: str) -> AsyncIterator[UserConnection]:
        """A connection that has presented `token`; TokenRefused when the daemon no longer
        takes it."""
        async with asyncio.timeout(self.timeout):
            client = await AsyncClient.connect(self.socket)
            try:
                answer = await client.call_as(
                    AuthenticateResult, "auth.authenticate", AuthenticateParams(token=token)
                )
            except RpcError as exc:
                await client.close()
                if exc.kind is ErrorKind.FORBIDDEN:
                    raise TokenRefused(exc.message) from None
                raise
            except BaseException:
                await client.close()
                raise
        try:
            yield UserConnection(client, answer.identity, self.timeout)
        finally:
            await client.close()


__all__ = ["DaemonLink", "DaemonUnreachable", "TokenRefused", "UserConnection"]
