"""The TUI's way to the daemon: one connection for calls, one per stream.

Calls share a connection (answered by id, several in flight); if it drops, the next call
opens a new one, so a daemon restart costs one failed repaint, not a dead screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from deployd.protocol.methods import METHODS

from ..aio import AsyncClient, Link, Opener, Resilient
from ..client import DaemonUnreachable


class Daemon:
    def __init__(self, path: Path, token: str | None = None) -> None:
        self.path = path
        self.token = token
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def call(self, method: str, params: BaseModel | dict[str, Any] | None = None) -> Any:
        client = await self._connected()
        try:
            return await client.call(method, params)
        except DaemonUnreachable:
            await self._drop(client)
            if METHODS[method].mutating:
                raise  # it may have been done: asking twice could deploy twice
            client = await self._connected()  # once more, on a new connection
            return await client.call(method, params)

    def stream(
        self, open: Opener, on_link: Callable[[Link, str | None], None]
    ) -> AsyncIterator[dict[str, Any]]:
        """A stream that comes back by itself when the daemon does."""
        return Resilient(self.path, open, on_link, token=self.token).items()

    async def close(self) -> None:
        if self._client is not None:
            await self._drop(self._client)

    async def _connected(self) -> AsyncClient:
        async with self._lock:
            if self._client is None:
                self._client = await AsyncClient.connect(self.path, self.token)
            return self._client

    async def _drop(self, client: AsyncClient) -> None:
        async with self._lock:
            if self._client is client:
                self._client = None
        await client.close()
