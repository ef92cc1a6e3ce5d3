"""A client loop that keeps requesting while a test changes things under it."""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Tally:
    served: int = 0
    failures: list[str] = field(default_factory=list)


@contextmanager
def hammering(request: Callable[[], int]) -> Iterator[Tally]:
    """Call `request` (it returns an HTTP status) in a loop on a thread while the block
    runs; anything but 200, and any connection error, is a failure."""
    tally = Tally()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                status = request()
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                tally.failures.append(repr(exc))
                continue
            tally.served += 1
            if status != 200:
                tally.failures.append(f"HTTP {status}")

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield tally
    finally:
        stop.set()
        thread.join(10)
