"""What every service needs: the store, the event bus, the settings and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from deployd.config import Settings
from deployd.engine.events import EventBus
from deployd.engine.jobs import JobRunner
from deployd.engine.platform import Platform
from deployd.engine.selfupdate import SelfUpdater
from deployd.protocol.common import Identity
from deployd.protocol.system import HostFacts
from deployd.store.db import Row
from deployd.store.migrate import Migration
from deployd.vault.audit_seal import AuditSeal

Pool = AsyncConnectionPool[AsyncConnection[Row]]


@dataclass
class Core:
    settings: Settings
    pool: Pool
    bus: EventBus
    mode: Literal["dev", "serve"]
    started_at: datetime
    migrations: list[Migration]
    """The migrations this deployd ships, read once at start."""
    platform: Platform
    jobs: JobRunner
    audit_seal: AuditSeal
    """The audit log's key and anchor, outside the database."""
    updater: SelfUpdater
    connections: int = 0
    host_facts: tuple[float, HostFacts] | None = None
    """(monotonic time read, facts): detection costs subprocesses, so it is cached."""


@dataclass
class Caller:
    """The connection a call arrives on. `identity` changes when a token is presented."""

    identity: Identity
    peer_uid: int | None
    peer_pid: int | None = None
    audit_detail: str | None = None
    """What the audit entry of the call under way should say besides its outcome (a
    one-off's command, masked); the dispatcher takes it."""

    @property
    def name(self) -> str:
        return self.identity.user
