"""`system.hello` and `system.status`."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import UTC, datetime

import psycopg
import psycopg_pool

from deployd import __version__
from deployd.config import detect_host
from deployd.domain.databases import overdue
from deployd.domain.healing import disk_is_low
from deployd.protocol import PROTOCOL_VERSION
from deployd.protocol.system import (
    CertificateProblem,
    DatabaseStatus,
    DiskStatus,
    HelloParams,
    HelloResult,
    HostFacts,
    StatusResult,
)
from deployd.store import databases as database_store
from deployd.store import domains as domain_store
from deployd.store import migrate
from deployd.store.db import Row

from . import updates
from .core import Caller, Core

HOST_FACTS_TTL = 30.0


async def hello(core: Core, caller: Caller, params: HelloParams) -> HelloResult:
    return HelloResult(protocol=PROTOCOL_VERSION, version=__version__, identity=caller.identity)


async def status(core: Core, caller: Caller) -> StatusResult:
    now = datetime.now(UTC)
    database, host = await asyncio.gather(_database(core), _host(core))
    certificates = await _certificates(core)
    overdue = await _backups_overdue(core, now)
    return StatusResult(
        version=__version__,
        protocol=PROTOCOL_VERSION,
        mode=core.mode,
        pid=os.getpid(),
        started_at=core.started_at,
        uptime_seconds=(now - core.started_at).total_seconds(),
        root=str(core.settings.root or "/"),
        socket=str(core.settings.paths.socket),
        database=database,
        host=host,
        identity=caller.identity,
        connections=core.connections,
        disks=await asyncio.to_thread(disks, core),
        certificates=len(certificates),
        certificate_problems=[
            CertificateProblem(
                domain=r["name"],
                app=r["app"],
                not_after=r["not_after"],
                error=r["last_error"],
                failures=r["failures"],
            )
            for r in certificates
            if r["failures"] and r["last_error"]
        ],
        backups_overdue=overdue,
        installed_versions=await asyncio.to_thread(core.updater.installation.installed),
        update=updates.info(await asyncio.to_thread(core.updater.last)),
    )


async def _backups_overdue(core: Core, now: datetime) -> list[str]:
    try:
        async with core.pool.connection(timeout=2.0) as conn:
            databases = await database_store.list_all(conn)
            last = await database_store.last_backups(conn)
    except (psycopg.Error, psycopg_pool.PoolTimeout):
        return []
    return [
        db.name
        for db in databases
        if db.schedule is not None
        and db.schedule_set_at is not None
        and overdue(db.schedule, last.get(db.name, {}).get("verified"), db.schedule_set_at, now)
    ]


async def _certificates(core: Core) -> list[Row]:
    try:
        async with core.pool.connection(timeout=2.0) as conn:
            return await domain_store.with_certificates(conn)
    except (psycopg.Error, psycopg_pool.PoolTimeout):
        return []


def disks(core: Core) -> list[DiskStatus]:
    paths = core.settings.paths
    result = []
    devices: set[int] = set()
    for path in dict.fromkeys((paths.data_dir, paths.log_dir)):
        try:
            usage = shutil.disk_usage(path)
            device = os.stat(path).st_dev
        except OSError:
            continue
        if device in devices:  # one filesystem holds both: say it once
            continue
        devices.add(device)
        result.append(
            DiskStatus(
                path=str(path),
                free_bytes=usage.free,
                total_bytes=usage.total,
                low=disk_is_low(usage.free, usage.total),
            )
        )
    return result


async def _database(core: Core) -> DatabaseStatus:
    try:
        async with core.pool.connection(timeout=2.0) as conn:
            cursor = await conn.execute("SHOW server_version")
            row = await cursor.fetchone()
            state = await migrate.state(conn, core.migrations)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        return DatabaseStatus(state="unreachable", detail=str(exc).splitlines()[0])
    return DatabaseStatus(
        state="ok",
        server_version=row["server_version"] if row else None,
        migrations_applied=len(state.applied),
        migrations_pending=len(state.pending),
    )


async def _host(core: Core) -> HostFacts:
    """Host facts change rarely and cost subprocesses: cached for a few seconds."""
    if core.host_facts and time.monotonic() - core.host_facts[0] < HOST_FACTS_TTL:
        return core.host_facts[1]
    facts = HostFacts.model_validate(
        await asyncio.to_thread(detect_host, core.settings.docker_host), from_attributes=True
    )
    core.host_facts = (time.monotonic(), facts)
    return facts
