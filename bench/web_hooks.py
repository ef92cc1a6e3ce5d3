"""How `deployd web` carries GitHub's webhooks to the daemon.

1. A hook through the web process: POST /hooks/github with a 7 KiB body (a typical push),
   a new TCP connection each time as GitHub makes, request to answer; HOOKS in a row, p50 /
   p95 / max. The daemon is the canned stand-in (tests/support/canned_daemon.py) in a
   process of its own, answering `github.receive` at once, so this is the web process's
   own cost.
2. Larger bodies: 1 MiB and 20 MiB (read, base64, sent to the daemon), median of BIG.
3. A declared 30 MB body: headers sent, no body, to the 413.
4. What a connection of its own for each hook costs (the web process's choice): against a
   throwaway `deployd dev`, `system.hello` through `DaemonLink` (a connection per call:
   connect, the daemon's peer check) beside one kept connection, CALLS each.
5. `deployd web` started to its first /healthz answer; its RSS idle, after the hooks, and
   its highest (while a 20 MiB body was held).

Prints figures; asserts nothing about them.

    PYTHONPATH=. .venv/bin/python bench/web_hooks.py
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _daemon import dev_daemon

from deployctl.aio import AsyncClient
from deployd.protocol.github import HOOK_PATH
from deployd.protocol.system import HelloParams, HelloResult
from deployd.web.link import DaemonLink

BIN = Path(sys.executable).parent
HOOKS = 300
BIG = 5
CALLS = 300
PUSH = (b'{"ref":"refs/heads/main","commits":[' + b'{"id":"abc","message":"x"},' * 260)[
    : 7 * 1024
] + b"]}"

CANNED = """
import signal, sys
from pathlib import Path
from tests.support.canned_daemon import CannedDaemon
CannedDaemon(Path(sys.argv[1])).start()
print("ready", flush=True)
signal.pause()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """RSS now, or at its highest so far (`VmHWM`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def canned(directory: Path) -> Iterator[Path]:
    path = directory / "canned.sock"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen(
        [sys.executable, "-c", CANNED, str(path)], stdout=subprocess.PIPE, env=env
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    try:
        yield path
    finally:
        process.terminate()
        process.wait()


@contextmanager
def web(socket_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    port = free_port()
    command = [str(BIN / "deployd"), "web", "--port", str(port), "--socket", str(socket_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYD_")}
    env["DEPLOYD_CONFIG"] = "/nonexistent"
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.01)
    ready = time.monotonic() - started
    try:
        yield url, process, ready
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()


def hook(url: str, body: bytes, n: int) -> float:
    """One hook on a TCP connection of its own, as GitHub sends them (http.client: a client
    that costs little itself; a new httpx.Client per hook put its own garbage collection
    into every 13th figure)."""
    host, port = url.removeprefix("http://").split(":")
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": f"bench-{n}",
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
        "Content-Type": "application/json",
    }
    conn = http.client.HTTPConnection(host, int(port))
    try:
        started = time.perf_counter()
        conn.request("POST", HOOK_PATH, body=body, headers=headers)
        reply = conn.getresponse()
        answer = reply.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    assert reply.status == 202, answer
    return elapsed


def declared_30mb(url: str) -> float:
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {HOOK_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {30 * 1024 * 1024}\r\n"
        "X-GitHub-Event: push\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(head)
        answer = conn.recv(65536)
    elapsed = time.perf_counter() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer
    return elapsed


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[int(len(values) * 0.95) - 1]
    return (
        f"p50 {statistics.median(values) * 1000:.1f}, p95 {p95 * 1000:.1f}, "
        f"max {values[-1] * 1000:.1f} ms"
    )


def through_web(directory: Path) -> None:
    with canned(directory) as path, web(path) as (url, process, ready):
        idle = rss_mb(process.pid)
        for n in range(20):  # warm up
            hook(url, PUSH, n)
        times = [hook(url, PUSH, n) for n in range(HOOKS)]
        print(f"hook of 7 KiB through deployd web, {HOOKS}: {ms(times)}")
        print(f"deployd web: started to its first /healthz {ready:.2f} s")
        print(f"deployd web RSS idle: {idle:.1f} MB")
        for size in (1024 * 1024, 20 * 1024 * 1024):
            body = os.urandom(size)
            big = [hook(url, body, n) for n in range(BIG)]
            median = statistics.median(big) * 1000
            print(f"hook of {size // 1024} KiB, median of {BIG}: {median:.0f} ms")
        refused = [declared_30mb(url) for _ in range(20)]
        print(f"declared 30 MB, no body sent, to the 413: {ms(refused)}")
        print(f"deployd web RSS after: {rss_mb(process.pid):.1f} MB, at most "
              f"{rss_mb(process.pid, 'VmHWM'):.1f} MB")  # fmt: skip


async def kept_calls(path: Path) -> list[float]:
    """One connection for every call: what the web process does not do."""
    client = await AsyncClient.connect(path)
    params = HelloParams(client="bench")
    times = []
    try:
        for n in range(20 + CALLS):
            started = time.perf_counter()
            await client.call_as(HelloResult, "system.hello", params)
            if n >= 20:
                times.append(time.perf_counter() - started)
    finally:
        await client.close()
    return times


async def link_calls(path: Path) -> list[float]:
    """A connection per call, through the web process's DaemonLink."""
    link = DaemonLink(path)
    params = HelloParams(client="bench")
    times = []
    for n in range(20 + CALLS):
        started = time.perf_counter()
        await link.call(HelloResult, "system.hello", params)
        if n >= 20:
            times.append(time.perf_counter() - started)
    return times


def against_the_daemon() -> None:
    with dev_daemon(["--no-example"]) as (path, _):
        kept = asyncio.run(kept_calls(path))
        print(f"system.hello to deployd dev, one kept connection, {CALLS}: {ms(kept)}")
        fresh = asyncio.run(link_calls(path))
        print(f"system.hello to deployd dev, a connection per call, {CALLS}: {ms(fresh)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        through_web(Path(directory))
    against_the_daemon()


if __name__ == "__main__":
    main()
