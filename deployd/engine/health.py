"""Health checks report; the pipeline decides. This probes a starting slot until it has
passed N times in a row, or says why it did not within the timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from deployd import httpcheck
from deployd.domain.manifest import HealthCheck
from deployd.domain.text import excerpt
from deployd.runtime.base import Handle
from deployd.runtime.listeners import Listener, describe
from deployd.runtime.process import ProcessRuntime


class Unhealthy(Exception):
    pass


async def wait_healthy(
    runtime: ProcessRuntime,
    handle: Handle,
    port: int,
    check: HealthCheck,
    strangers: Callable[[], list[Listener]] = list,
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
            raise Unhealthy(f"the web process exited{detail} before it became healthy")
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
