"""`system.top` and `system.disk`: what the host and each app use now."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from deployd.engine.usage import live_roots
from deployd.protocol.system import (
    AppDisk,
    AppUsage,
    DiskResult,
    HostUsage,
    ProcessUsage,
    TopResult,
)
from deployd.runtime.usage import disk_use, host, measure
from deployd.store import apps as app_store
from deployd.store import databases as database_store

from .core import Caller, Core
from .system import disks


async def top(core: Core, caller: Caller) -> TopResult:
    roots = await live_roots(core.platform)
    machine, usage = await asyncio.gather(
        asyncio.to_thread(host), asyncio.to_thread(measure, list(roots.values()))
    )
    per_app: dict[str, list[ProcessUsage]] = defaultdict(list)
    for (app, _slot, name), root in roots.items():
        found = usage.get(root)
        if found is not None:
            per_app[app].append(
                ProcessUsage(
                    name=name,
                    pid=found.pid,
                    cpu_percent=found.cpu_percent,
                    rss_bytes=found.rss_bytes,
                )
            )
    return TopResult(
        host=HostUsage(
            cpus=machine.cpus,
            cpu_percent=machine.cpu_percent,
            memory_total=machine.memory_total,
            memory_used=machine.memory_used,
            load=machine.load,
            net_sent_per_s=machine.net_sent_per_s,
            net_received_per_s=machine.net_received_per_s,
            disks=await asyncio.to_thread(disks, core),
        ),
        apps=[
            AppUsage(
                app=app,
                cpu_percent=round(sum(p.cpu_percent for p in procs), 1),
                rss_bytes=sum(p.rss_bytes for p in procs),
                processes=sorted(procs, key=lambda p: p.name),
            )
            for app, procs in sorted(per_app.items())
        ],
    )


async def disk(core: Core, caller: Caller) -> DiskResult:
    platform = core.platform
    paths = platform.paths
    async with core.pool.connection() as conn:
        names = [a.name for a in await app_store.list_all(conn)]
        links = await database_store.links(conn)
    try:
        sizes = await platform.databases.usage() if links else {}
    except Exception:  # the apps' server down: its databases' sizes are unknown
        sizes = {}

    def measured(app: str) -> AppDisk:
        logs = disk_use(str(paths.app_logs(app)))
        access = paths.access_logs_dir / f"{app}.log"
        logs += sum(disk_use(str(p)) for p in (access, access.with_name(access.name + ".1")))
        return AppDisk(
            app=app,
            builds_bytes=disk_use(str(paths.app_dir(app))),
            logs_bytes=logs,
            images_bytes=platform.docker.images_bytes(app),
            databases_bytes=sum(
                sizes[link.database].size_bytes
                for link in links
                if link.app == app and link.database in sizes
            ),
        )

    apps = [await asyncio.to_thread(measured, app) for app in names]
    return DiskResult(
        host=await asyncio.to_thread(disks, core),
        apps=apps,
        backups_bytes=await asyncio.to_thread(disk_use, str(paths.backups_dir)),
    )
