"""deployd's databases code on real servers without a whole daemon: the parts of a
Platform that databases and their backups use, for integration tests and benchmarks."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from deployd.config import Paths, Settings, resource_dir
from deployd.engine.events import EventBus
from deployd.engine.masks import Masks
from deployd.engine.platform import Platform
from deployd.engine.readings import Readings
from deployd.postgres.server import Address, AppsServer
from deployd.postgres.tools import Tools
from deployd.protocol.events import EventType
from deployd.store import migrate
from deployd.store.cluster import PrivateCluster, find_pg_bindir
from deployd.store.db import make_pool
from deployd.vault.keyring import KeyRing
from tests.support.daemon import world_readable_tempdir


@dataclass
class Stage:
    """The parts of a Platform that databases and their backups use."""

    settings: Settings
    pool: object
    databases: AppsServer
    db_tools: Tools
    paths: Paths
    vault: KeyRing
    bus: EventBus
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    readings: Readings = field(default_factory=Readings)

    def lock(self, key: str) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())

    async def emit(self, kind: EventType, message: str, app: str, /, **data: Any) -> None:
        await self.bus.publish(kind, message, app=app, actor="deployd", data=data)


@asynccontextmanager
async def staged(state_db: str, apps_pg: PrivateCluster) -> AsyncIterator[Platform]:
    pool = make_pool(state_db)
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await migrate.migrate(conn, resource_dir("migrations"))
    root = world_readable_tempdir("deployd-staged-")
    settings = Settings(root=root)
    paths = settings.paths
    paths.create()
    vault = KeyRing(root / "secret.key")
    vault.create()
    server = AppsServer(
        lambda: apps_pg.conninfo("postgres"), lambda: Address("127.0.0.1", apps_pg.port)
    )
    tools = Tools(
        bindir=find_pg_bindir(),
        account="postgres" if os.geteuid() == 0 else None,
        admin_env=server.admin_parts,
    )
    stage = Stage(settings, pool, server, tools, paths, vault, EventBus(pool, Masks()))
    try:
        yield cast(Platform, stage)
    finally:
        await pool.close()
        shutil.rmtree(root, ignore_errors=True)


def run_staged(
    state_db: str, apps_pg: PrivateCluster, test: Callable[[Platform], Awaitable[None]]
) -> None:
    """Run `test` against a staged platform on `state_db` and the apps' server."""

    async def main() -> None:
        async with staged(state_db, apps_pg) as platform:
            await test(platform)

    asyncio.run(main())
