"""A client loop through nginx, for the promise that no request fails while deployd moves
an app's processes."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.daemon import RunningDaemon


@dataclass
class Traffic:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    served_by: set[str] = field(default_factory=set)
    """The `dyno` and `pid` of every process that answered (apps that say so)."""
    releases: set[str] = field(default_factory=set)


@contextmanager
def client_loop(
    daemon: RunningDaemon, app: str, clients: int = 4, *, keep_alive: bool = True
) -> Iterator[Traffic]:
    """GET / through nginx in `clients` threads until the block ends, each on its own
    keep-alive connection (or a new connection per request); every error and non-200
    answer is a failure.

    A keep-alive client fails when nginx reloads (it closes idle connections, and a request
    sent at that moment meets the close): only a change of an app's ports or names reloads
    it. Browsers and HTTP libraries retry such a request; this loop does not, on purpose."""
    seen = Traffic()
    stop = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
        while not stop.is_set():
            started = time.monotonic()
            headers = {"Host": f"{app}.localhost"}
            if not keep_alive:
                headers["Connection"] = "close"
            try:
                conn.request("GET", "/", headers=headers)
                reply = conn.getresponse()
                body = reply.read()
                if not keep_alive:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    seen.failures.append(f"{exc!r} after {time.monotonic() - started:.3f}s")
                conn.close()
                continue
            with lock:
                seen.requests += 1
                seen.releases.add(reply.getheader("X-Deployd-Release") or "?")
                if reply.status != 200:
                    seen.failures.append(f"HTTP {reply.status}: {body[:200]!r}")
                    continue
                try:
                    said = json.loads(body)
                    seen.served_by.add(f"{said['dyno']}/{said['pid']}")
                except (ValueError, KeyError, TypeError):
                    pass
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield seen
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
