"""The daemon at rest and under load: idle RSS, and `system.status` round trips per second
from 50 concurrent clients, each keeping one connection and calling back to back.

Targets (issue 2): idle RSS < 80 MB; >= 2,000 calls/s on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psutil
from _daemon import dev_daemon

CLIENTS = 50
SECONDS = 8.0


async def client(socket: Path, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_unix_connection(str(socket))
    n = 0
    while time.monotonic() < stop_at:
        writer.write(
            json.dumps({"jsonrpc": "2.0", "id": n, "method": "system.status"}).encode() + b"\n"
        )
        await writer.drain()
        reply = json.loads(await reader.readline())
        assert "result" in reply, reply
        n += 1
    counts.append(n)
    writer.close()


async def load(socket: Path) -> float:
    counts: list[int] = []
    started = time.monotonic()
    await asyncio.gather(*(client(socket, started + SECONDS, counts) for _ in range(CLIENTS)))
    return sum(counts) / (time.monotonic() - started)


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 1024 / 1024


def main() -> None:
    with dev_daemon() as (socket, popen):
        daemon = psutil.Process(popen.pid)
        time.sleep(2)
        idle = rss_mb(daemon)
        rate = asyncio.run(load(socket))
        after = rss_mb(daemon)
    print(f"daemon RSS idle after start    {idle:7.1f} MB")
    print(f"system.status, {CLIENTS} clients     {rate:7.0f} calls/s over {SECONDS:.0f} s")
    print(f"daemon RSS after the load      {after:7.1f} MB")


if __name__ == "__main__":
    main()
