"""The steady cost of analytics and metrics in the daemon at 1,000 requests/s (issue 13).

`deployd dev` serves the example app; `hey` sends 1,000 requests/s through nginx for
`SECONDS`; the daemon's CPU time over that window, less its CPU time over as long a window
with no requests, is what following the log, rolling it up and sampling the host cost.
Target: ≤ 2 % of one core.

    .venv/bin/python bench/traffic_overhead.py
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import ctl, dev_daemon  # noqa: E402

SECONDS = 30
RATE = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main() -> None:
    port = free_port()
    with dev_daemon(["--http-port", str(port)]) as (sock, daemon):
        deadline = time.monotonic() + 120
        while json.loads(ctl(sock, "apps", "show", "hello", "--json")).get("live_slot") is None:
            if time.monotonic() > deadline:
                raise SystemExit("the example app did not go live")
            time.sleep(0.5)
        me = psutil.Process(daemon.pid)
        time.sleep(15)  # past the start's own work
        start = cpu_seconds(me)
        time.sleep(SECONDS)
        idle = cpu_seconds(me) - start
        start = cpu_seconds(me)
        load = subprocess.run(
            ["hey", "-z", f"{SECONDS}s", "-c", "10", "-q", str(RATE // 10),
             "-host", "hello.localhost", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        time.sleep(6)  # the last lines read
        loaded = cpu_seconds(me) - start
        rate = next(
            (line.split()[1] for line in load.stdout.splitlines() if "Requests/sec" in line), "?"
        )
        stats = json.loads(ctl(sock, "stats", "hello", "--since", "10m", "--json"))
        counted = stats["apps"][0]["totals"]["requests"]
        window = SECONDS + 6
        overhead = (loaded - idle / SECONDS * window) / SECONDS * 100
        print(
            f"idle: {idle / SECONDS * 100:.2f} % of a core; at {rate} requests/s "
            f"({counted:,} counted): {loaded / window * 100:.2f} %; analytics and "
            f"metrics cost {overhead:.2f} % of one core (target ≤ 2 %)"
        )


if __name__ == "__main__":
    main()
