"""The connection pool. Connections are in autocommit mode; every change that must be
atomic runs inside an explicit `async with conn.transaction()`."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

Row = dict[str, Any]


async def _configure(conn: AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)


def make_pool(conninfo: str, *, max_size: int = 8) -> AsyncConnectionPool[AsyncConnection[Row]]:
    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={"row_factory": dict_row},
        configure=_configure,
        timeout=10.0,
        name="deployd",
        # A connection is checked before it is handed out, so a PostgreSQL restart costs
        # one reconnect, not a burst of failed calls.
        check=AsyncConnectionPool.check_connection,
        reconnect_timeout=3600.0,
    )
