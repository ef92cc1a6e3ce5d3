"""How long `deployctl` takes to start: `--version`, and `status` against a live daemon.

Prints the median of 20 runs of each, beside bare `python3 -c pass` on the same machine.
Target (issue 2): `deployctl status` within 2.5x bare Python start-up.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _daemon import BIN, dev_daemon

RUNS = 20


# As on a user's machine: Python may cache compiled modules (some sandboxes forbid it, and
# every run would then compile pydantic and typer again, doubling the figures).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_ms(command: list[str]) -> float:
    samples = []
    for _ in range(RUNS + 2):
        started = time.perf_counter()
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
        )
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[2:])  # the first two warm the page cache


def main() -> None:
    bare = median_ms([sys.executable, "-c", "pass"])
    version = median_ms([str(BIN / "deployctl"), "--version"])
    with dev_daemon() as (socket, _):
        status = median_ms([str(BIN / "deployctl"), "--socket", str(socket), "status"])
        status_json = median_ms(
            [str(BIN / "deployctl"), "--socket", str(socket), "status", "--json"]
        )
    print(f"python3 -c pass            {bare:7.1f} ms")
    print(f"deployctl --version        {version:7.1f} ms  ({version / bare:.2f}x bare)")
    print(f"deployctl status           {status:7.1f} ms  ({status / bare:.2f}x bare)")
    print(f"deployctl status --json    {status_json:7.1f} ms  ({status_json / bare:.2f}x bare)")


if __name__ == "__main__":
    main()
