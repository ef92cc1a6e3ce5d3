"""TLS through nginx beside plain HTTP, and how long `domains attach --tls` takes.

A `deployd dev` with pebble (Debian's ACME test server) on loopback as its CA: the example
app is deployed, a domain attached with --tls (timed from the command to HTTPS answering),
then a load of GET / runs for DURATION seconds each over plain HTTP and over HTTPS, with
CONNECTIONS keep-alive connections, and once more over HTTPS with a new connection (a full
TLS handshake, with the certificate read from disk) per request. The client is asyncio in
this process (wrk cannot send an SNI name other than the URL's host), so absolute figures
are the client's as much as nginx's: compare the rows with each other.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _daemon import ctl, dev_daemon, free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.acme import pebble  # noqa: E402

DOMAIN = "bench-tls.example.test"
PLAIN_HOST = "tlsbench.localhost"
CONNECTIONS = 16
DURATION = 10.0


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, close: bool, host: str = DOMAIN
) -> None:
    connection = "close" if close else "keep-alive"
    writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)


async def load(port: int, tls: ssl.SSLContext | None, keep_alive: bool) -> tuple[int, list[float]]:
    """HTTPS to the domain; plain HTTP to the app's own name (the domain redirects)."""
    host = DOMAIN if tls else PLAIN_HOST
    deadline = time.monotonic() + DURATION
    latencies: list[float] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname=DOMAIN if tls else None
        )

    async def worker() -> None:
        conn = await connect() if keep_alive else None
        while time.monotonic() < deadline:
            started = time.perf_counter()
            if conn is None:
                reader, writer = await connect()
                await _request(reader, writer, close=True, host=host)
                writer.close()
            else:
                try:
                    await _request(*conn, close=False, host=host)
                except (asyncio.IncompleteReadError, ConnectionResetError):
                    # nginx closes a connection after keepalive_requests (1,000): reconnect
                    conn[1].close()
                    conn = await connect()
                    continue
            latencies.append(time.perf_counter() - started)
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return len(latencies), latencies


async def first_answer(port: int, tls: ssl.SSLContext) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname=DOMAIN
    )
    await _request(reader, writer, close=True)
    writer.close()


def report(label: str, result: tuple[int, list[float]]) -> None:
    count, latencies = result
    p50 = statistics.median(latencies) * 1000
    p99 = sorted(latencies)[int(len(latencies) * 0.99)] * 1000
    print(f"{label:<36} {count / DURATION:8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")


def main() -> None:
    http_port, https_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-tls-", dir="/tmp"))
    work.chmod(0o755)
    app = work / "app"
    shutil.copytree(ROOT / "examples" / "hello", app)
    try:
        with pebble(http_port) as acme:
            settings = {
                "DEPLOYD_HTTP_PORT": str(http_port),
                "DEPLOYD_HTTPS_PORT": str(https_port),
                "DEPLOYD_ACME_DIRECTORY": acme.directory,
                "DEPLOYD_ACME_CA_BUNDLE": str(acme.ca_bundle),
                "DEPLOYD_DNS_SERVERS": acme.dns_server,
                "DEPLOYD_PUBLIC_ADDRESSES": "127.0.0.1",
            }
            with dev_daemon(["--no-example"], settings) as (socket, _):
                ctl(socket, "apps", "create", "tlsbench", "--path", str(app))
                ctl(socket, "deploy", "tlsbench")
                started = time.perf_counter()
                ctl(socket, "domains", "attach", "tlsbench", DOMAIN, "--tls", "--json")
                context = ssl.create_default_context(cafile=str(acme.roots()))
                asyncio.run(first_answer(https_port, context))
                attach = time.perf_counter() - started
                info = json.loads(ctl(socket, "domains", "list", "tlsbench", "--json"))
                print(
                    f"attach --tls to HTTPS serving: {attach * 1000:.0f} ms "
                    f"(issuer {info['domains'][0]['issuer']})"
                )
                report("plain HTTP, keep-alive", asyncio.run(load(http_port, None, True)))
                report("HTTPS, keep-alive", asyncio.run(load(https_port, context, True)))
                report(
                    "plain HTTP, connection per request", asyncio.run(load(http_port, None, False))
                )
                report(
                    "HTTPS, handshake per request", asyncio.run(load(https_port, context, False))
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
