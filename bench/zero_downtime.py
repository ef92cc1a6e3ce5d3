"""Requests under deploys, rollbacks, daemon kills and app crashes (`deployd dev`, loopback).

1. wrk against nginx while 20 deploys and 20 rollbacks run back to back, once with
   keep-alive connections and once with a new connection per request; beside a steady-state
   run of the same length. Prints requests, failures (socket errors + non-2xx) and latency.
2. wrk while the daemon is killed with SIGKILL and started again 10 times.
3. Time from `kill -9` of the app's process group to the app answering through nginx again.

Targets (issue 4): 0 failed requests in every mode; p99 during switches < 2x steady state;
crashed app serving again in < 2 s.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from _daemon import BIN, ctl, dev_daemon

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello"
SECONDS = 60
SWITCHES = 40  # 20 deploys and 20 rollbacks, alternating


def wrk(port: int, seconds: int, keepalive: bool) -> subprocess.Popen[str]:
    headers = ["-H", "Host: bench.localhost"]
    if not keepalive:
        headers += ["-H", "Connection: close"]
    return subprocess.Popen(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", *headers, f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        text=True,
    )


def summary(output: str) -> str:
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = errors + (int(non2xx[1]) if non2xx else 0)
    p50 = re.search(r"50%\s+(\S+)", output)[1]  # type: ignore[index]
    p99 = re.search(r"99%\s+(\S+)", output)[1]  # type: ignore[index]
    return f"{requests:7d} requests, {failed:4d} failed, p50 {p50:>8}, p99 {p99:>8}"


def main() -> None:
    with dev_daemon(["--no-example"]) as (socket, daemon):
        info = json.loads(ctl(socket, "apps", "create", "bench", "--path", str(EXAMPLE), "--json"))
        port = int(re.search(r":(\d+)/$", info["url"])[1])  # type: ignore[index]
        ctl(socket, "deploy", "bench")
        for keepalive in (True, False):
            mode = "keep-alive" if keepalive else "new connection per request"
            steady = wrk(port, 15, keepalive)
            print(f"steady state, {mode:<27} {summary(steady.communicate()[0])}")
            load = wrk(port, SECONDS, keepalive)
            switches, started = 0, time.monotonic()
            while switches < SWITCHES:
                ctl(socket, "deploy" if switches % 2 == 0 else "rollback", "bench")
                switches += 1
            took = time.monotonic() - started
            load.send_signal(signal.SIGINT)  # stop wrk as soon as the switches are done
            print(
                f"{switches} deploys+rollbacks in {took:.0f}s, {mode:<14} "
                f"{summary(load.communicate()[0])}"
            )
        print(f"app killed (SIGKILL) → serving again: {crash_recovery(socket, port) * 1000:.0f} ms")
        count, output, last = kill_the_daemon(socket, daemon, port)
        print(f"daemon killed and restarted {count} times      {summary(output)}")
        last.send_signal(signal.SIGTERM)  # the last daemon tears dev mode down
        last.wait(60)


def kill_the_daemon(
    socket: Path, daemon: subprocess.Popen[bytes], port: int
) -> tuple[int, str, subprocess.Popen[bytes]]:
    """SIGKILL the daemon and start it again, 10 times, under load."""
    load = wrk(port, 25, keepalive=True)
    current = daemon
    for _ in range(10):
        current.send_signal(signal.SIGKILL)
        current.wait()
        current = subprocess.Popen(
            [
                str(BIN / "deployd"),
                "dev",
                "--root",
                str(socket.parent),
                "--http-port",
                str(port),
                "--no-example",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while (
            subprocess.run(
                [str(BIN / "deployctl"), "--socket", str(socket), "status"], capture_output=True
            ).returncode
            != 0
        ):
            time.sleep(0.05)
    return 10, load.communicate()[0], current


def crash_recovery(socket: Path, port: int) -> float:
    info = json.loads(ctl(socket, "apps", "show", "bench", "--json"))
    pid = next(s["pid"] for s in info["slots"] if s["name"] == info["live_slot"])
    os.killpg(pid, signal.SIGKILL)
    started = time.monotonic()
    time.sleep(0.05)
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/", headers={"Host": "bench.localhost"})
            if conn.getresponse().status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.01)


if __name__ == "__main__":
    main()
