"""The adapters the engine composes, gathered once at daemon start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from deployd.config import Paths, Settings
from deployd.domain.ports import parse_range
from deployd.postgres.server import AppsServer
from deployd.postgres.tools import Tools
from deployd.protocol.events import EventType
from deployd.proxy.acme import Certbot
from deployd.proxy.nginx import Nginx
from deployd.runtime.base import Runtime
from deployd.runtime.docker import DockerRuntime
from deployd.runtime.process import ProcessRuntime
from deployd.runtime.systemd import SystemdRuntime
from deployd.store.db import Row
from deployd.vault.keyring import KeyRing

from .accounts import AppAccounts
from .events import EventBus
from .masks import Masks
from .readings import Readings

Pool = AsyncConnectionPool[AsyncConnection[Row]]


@dataclass
class Platform:
    settings: Settings
    paths: Paths
    pool: Pool
    bus: EventBus
    nginx: Nginx
    certbot: Certbot
    runtime: ProcessRuntime
    """Keeps every slot's launcher (alive? how did it end?), whatever the slot's runtime."""
    runtimes: dict[str, Runtime]
    """How slots start and stop: `process`, `docker`, `systemd`."""
    docker: DockerRuntime
    """Also the Engine for docker builds."""
    systemd: SystemdRuntime
    systemd_host: bool
    app_mount: bool
    """Native releases run at /app (root, and the host allows private mount namespaces)."""
    """systemd is PID 1 here: `auto` apps run as systemd units."""
    accounts: AppAccounts
    """Each app's Unix account (and the accounts local sources are read as)."""
    vault: KeyRing
    masks: Masks
    databases: AppsServer
    """The PostgreSQL of the apps' databases (never deployd's own)."""
    db_tools: Tools
    drains: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    """Per app: the old slot draining after a switch. Not a job, so the job that made the
    switch ends as soon as the new release is live; the app's next job waits for it."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Tasks nobody awaits (a detached one-off's reaper): kept so they are not collected."""
    readings: Readings = field(default_factory=Readings)
    """The host's and its traffic's latest, for the sampler and `system.snapshot`."""

    def lock(self, app: str) -> asyncio.Lock:
        """Held by whoever changes an app's slots or nginx state: its job, its deletion,
        a reconciler pass over it."""
        return self.locks.setdefault(app, asyncio.Lock())

    @property
    def ports(self) -> range:
        return parse_range(self.settings.port_range)

    def hostname(self, app: str) -> str:
        return f"{app}.{self.settings.base_domain}"

    def url(self, app: str) -> str:
        port = self.nginx.http_port
        suffix = "" if port == 80 else f":{port}"
        return f"http://{self.hostname(app)}{suffix}/"

    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    wake_jobs: Callable[[], None] = lambda: None
    wake_github: Callable[[], None] = lambda: None
    """The GitHub worker: a delivery was recorded that asks for work."""
    """Set by the job runner: look for queued jobs now rather than at the next poll."""

    def mask(self, app: str | None, text: str) -> str:
        return self.masks.mask(app, text)

    async def emit(self, kind: EventType, message: str, app: str, /, **data: Any) -> None:
        await self.bus.publish(kind, message, app=app, actor="deployd", data=data)
