"""The process model's figures (`deployd dev`, loopback; issue 11).

1. `deployctl run APP -- true`: wall time, beside `deployctl status` (the CLI's own start
   and one round trip) and `true` itself. Target: < 1 s beyond the command's own start.
2. Requests/s through nginx with web=1 and web=2 (wrk, 2 threads, 16 keep-alive
   connections, 15 s each) to a single-threaded-per-request Python app that burns ~2 ms of
   CPU per request: what a second web process buys on this machine.
3. wrk (keep-alive) while scaling web 1→3→1→2 and a rolling restart, twice: failed
   requests the first time (3 web processes need 2 new ports: one graceful nginx reload)
   and again (no reload).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import BIN, ctl, dev_daemon  # noqa: E402
from zero_downtime import summary  # noqa: E402

from tests.support.repos import fixture_files, repository  # noqa: E402

RUNS = 10
BURN = """
def burn():
    total = 0
    for i in range(40_000):
        total += i * i
    return total
"""


def timed(*argv: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def wrk(port: int, seconds: int, app: str) -> subprocess.Popen[str]:
    url, host = f"http://127.0.0.1:{port}/", f"Host: {app}.localhost"
    return subprocess.Popen(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-H", host, url],
        stdout=subprocess.PIPE,
        text=True,
    )


def requests_per_second(output: str) -> float:
    return float(re.search(r"Requests/sec:\s+(\S+)", output)[1])  # type: ignore[index]


def source(work: Path) -> str:
    """The procs test app, its handler burning CPU as a real one would."""
    files = fixture_files("procs")
    app = files["app.py"].replace("class Handler(", BURN + "\n\nclass Handler(", 1)
    files["app.py"] = app.replace(
        "        body = json.dumps(", "        burn()\n        body = json.dumps(", 1
    )
    return repository(work, "procs", files)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deployd-bench-procs-"))
    work.chmod(0o755)
    try:
        with dev_daemon(["--no-example"]) as (socket, _):
            deployctl = [str(BIN / "deployctl"), "--socket", str(socket)]
            info = json.loads(
                ctl(socket, "apps", "create", "procs", "--git", source(work), "--json")
            )
            port = int(re.search(r":(\d+)/$", info["url"])[1])  # type: ignore[index]
            ctl(socket, "deploy", "procs")

            status = statistics.median(timed(*deployctl, "status") for _ in range(RUNS))
            run = statistics.median(
                timed(*deployctl, "run", "procs", "--", "true") for _ in range(RUNS)
            )
            true = statistics.median(timed("true") for _ in range(RUNS))
            print(f"median of {RUNS}: `deployctl run procs -- true` {run * 1000:.0f} ms, ")
            print(f"  `deployctl status` {status * 1000:.0f} ms, `true` {true * 1000:.1f} ms")
            print(
                f"  run beyond the CLI's own start and round trip: {(run - status) * 1000:.0f} ms"
            )

            for web in (1, 2):
                ctl(socket, "scale", "procs", f"web={web}")
                time.sleep(1)
                load = wrk(port, 15, "procs")
                output = load.communicate()[0]
                print(
                    f"web={web}: {requests_per_second(output):8.0f} requests/s   {summary(output)}"
                )

            for round_ in ("first time (nginx learns 2 new ports)", "again (ports known)"):
                ctl(socket, "scale", "procs", "web=1")
                load = wrk(port, 120, "procs")
                started = time.monotonic()
                for counts in ("web=3", "web=1", "web=2"):
                    ctl(socket, "scale", "procs", counts)
                ctl(socket, "restart", "procs")
                took = time.monotonic() - started
                load.send_signal(signal.SIGINT)
                print(
                    f"scale 1→3→1→2 + rolling restart, {round_}, {took:.1f}s: "
                    f"{summary(load.communicate()[0])}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
