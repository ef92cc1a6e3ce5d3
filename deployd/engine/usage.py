"""Where each live process of each app can be measured: the process whose children are
the app's own (its launcher, or its container's init for a docker release)."""

from __future__ import annotations

import asyncio

from deployd.store import apps as app_store
from deployd.store import processes as process_store

from .platform import Platform

ProcessKey = tuple[str, str, str]
"""(app, slot, process name)"""


async def live_roots(platform: Platform) -> dict[ProcessKey, int]:
    """Per live process: the pid whose children are the app's processes (blocking calls
    to the Engine run in threads)."""
    async with platform.pool.connection() as conn:
        apps = {a.name: a for a in await app_store.list_all(conn)}
        slots = {(s.app, s.name): s for s in await app_store.all_slots(conn)}
        processes = [
            p
            for p in await process_store.of_all(conn)
            if p.pid is not None and p.app in apps and apps[p.app].live_slot == p.slot
        ]
    roots: dict[ProcessKey, int] = {}
    for proc in processes:
        slot = slots.get((proc.app, proc.slot))
        if slot is not None and slot.runtime == "docker":
            root = await asyncio.to_thread(
                platform.docker.init_pid, proc.app, proc.slot, str(proc.name)
            )
        else:
            root = proc.pid
        if root is not None:
            roots[(proc.app, proc.slot, str(proc.name))] = root
    return roots
