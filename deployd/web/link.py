"""The web process's way to the daemon: a connection of its own for every call.

Measured against keeping one connection (docs/benchmarks.md): a new connection costs the
daemon's peer check, under a millisecond, against a budget of a second. For that, a call
shares nothing with another: a line the daemon refuses (and closes the connection for)
fails only its own hook, and no hook is ever written into a connection the daemon is just
closing for idleness. A call that fails is not sent again: GitHub's redelivery is the
retry, and the daemon dedupes it on the delivery id.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from deployctl.aio import AsyncClient
from deployctl.client import DaemonUnreachable

M = TypeVar("M", bound=BaseModel)

CALL_TIMEOUT = 10.0
"""Seconds the daemon has to answer: GitHub gives up on a delivery after ten."""


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


__all__ = ["DaemonLink", "DaemonUnreachable"]
