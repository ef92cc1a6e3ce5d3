"""A minimal HTTP/1.1 GET on loopback, for health checks and switch verification.

Deliberately tiny: one request, one connection, the status line and headers, and (when
asked) the start of the body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

BODY_KEPT = 64 * 1024
"""At most this much of a body is read (a health check's `content` is looked for in it)."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""


async def get(
    port: int,
    path: str,
    host: str = "localhost",
    timeout: float = 2.0,
    body: bool = False,
    check: str | None = None,
) -> Reply:
    """`check`: marks the request as deployd's own in nginx's access log (not traffic)."""
    marked = f"X-Deployd-Check: {check}\r\n" if check else ""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: deployd-check\r\n"
                f"{marked}Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = await reader.readline()
            parts = status_line.decode("latin-1").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ConnectionError(f"not an HTTP response: {status_line[:60]!r}")
            headers: dict[str, str] = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                key, _, value = line.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            start = b""
            if body:  # Connection: close: the body ends with the connection
                while len(start) < BODY_KEPT and (chunk := await reader.read(BODY_KEPT)):
                    start += chunk
            return Reply(int(parts[1]), headers, start[:BODY_KEPT])
        finally:
            writer.close()
