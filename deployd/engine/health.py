"""Health checks report; the pipeline decides. This probes a starting slot's web processes
until each has passed N times in a row, and watches its other processes for a settle time,
or says why they did not make it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from deployd import httpcheck
from deployd.domain.manifest import HealthCheck, Manifest
from deployd.domain.text import excerpt
from deployd.runtime.base import Handle
from deployd.runtime.listeners import Listener, describe
from deployd.runtime.process import ProcessRuntime
from deployd.store.apps import SlotRow
from deployd.store.releases import ReleaseRow

from . import slots
from .platform import Platform
from .slots import Started


class Unhealthy(Exception):
    pass


async def wait_ready(
    platform: Platform,
    row: SlotRow,
    release: ReleaseRow,
    manifest: Manifest,
    started: list[Started],
) -> None:
    """Every web process healthy (its listener its own), and every other process still
    running after the settle time; Unhealthy says which did not, and why."""
    runtime = platform.runtime
    checked = replace(row, runtime=release.runtime)
    web = [s for s in started if s.port is not None]
    others = [s for s in started if s.port is None]
    try:
        async with asyncio.TaskGroup() as group:
            for process in web:
                assert process.port is not None
                strangers = slots.strangers(
                    platform, checked, str(process.name), process.handle, process.port
                )
                group.create_task(
                    wait_healthy(
                        runtime,
                        process.handle,
                        process.port,
                        manifest.health,
                        strangers,
                        what=str(process.name),
                    )
                )
            if others:
                group.create_task(wait_settled(runtime, others, manifest.settle_seconds))
    except ExceptionGroup as group_error:  # the first process that did not make it says why
        unhealthy, _ = group_error.split(Unhealthy)
        if unhealthy is None:
            raise
        first = unhealthy.exceptions[0]
        while isinstance(first, ExceptionGroup):
            first = first.exceptions[0]
        raise first from None


async def wait_settled(runtime: ProcessRuntime, started: list[Started], seconds: float) -> None:
    """Processes without a port pass by still running after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        for process in started:
            if not runtime.alive(process.handle):
                status = runtime.exit_status(process.handle)
                detail = f" with status {status}" if status is not None else ""
                raise Unhealthy(f"{process.name} exited{detail} within {seconds:g}s of starting")
        if loop.time() >= deadline:
            return
        await asyncio.sleep(0.2)


async def wait_healthy(
    runtime: ProcessRuntime,
    handle: Handle,
    port: int,
    check: HealthCheck,
    strangers: Callable[[], list[Listener]] = list,
    what: str = "the web process",
) -> int:
    """Returns how many probes it took; raises Unhealthy with the last observation. Passing
    also needs every listener on the port to be the slot's own (`strangers` finds the
    others): a stranger answering the checks must never be switched to."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + check.timeout
    passes = probes = 0
    last = "no answer yet"
    while loop.time() < deadline:
        if not runtime.alive(handle):
            status = runtime.exit_status(handle)
            detail = f" with status {status}" if status is not None else ""
            raise Unhealthy(f"{what} exited{detail} before it became healthy")
        probes += 1
        try:
            reply = await httpcheck.get(
                port,
                check.path,
                timeout=max(1.0, check.interval * 4),
                body=check.content is not None,
            )
        except (OSError, TimeoutError) as exc:
            passes, last = 0, f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            if check.content is not None and check.content.encode() not in reply.body:
                passes = 0
                last = f"GET {check.path} answered without {excerpt(check.content)}"
            elif 200 <= reply.status < 400:
                passes += 1
                if passes >= check.passes:
                    found = await asyncio.to_thread(strangers)
                    if found:
                        raise Unhealthy(
                            f"port {port} answers, but not (only) from this release: "
                            f"{describe(found)} listens there too"
                        )
                    return probes
            else:
                passes, last = 0, f"GET {check.path} answered HTTP {reply.status}"
        await asyncio.sleep(check.interval)
    raise Unhealthy(f"not healthy within {check.timeout:g}s (last check: {last})")
