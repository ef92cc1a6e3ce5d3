"""Request analytics (issue 13) through the real nginx: what `stats --json` says equals
what nginx logged, to the request and the byte; percentiles are within the histogram's
stated error; a daemon killed in the middle of ingesting counts every line once after its
restart; a rotated log loses nothing."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from deployd.domain import traffic
from deployd.protocol.events import HostSample
from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import (
    BIN,
    RunningDaemon,
    serve,
    start_daemon,
    world_readable_tempdir,
)
from tests.support.repos import from_fixture
from tests.support.waiting import wait_for

MIX = (
    [("/", 200)] * 150
    + [("/status/404", 404)] * 30
    + [("/status/503", 503)] * 20
    + [("/bytes/100000", 200)] * 10
    + [("/slow/300", 200)] * 8
    + [("/page?utm=1", 200)] * 12
)


ROTATE_AT = 1024 * 1024
"""The module's daemon rotates an app's access log past 1 MiB, once it has read it."""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def stats(platform: RunningDaemon, app: str, *args: str) -> Any:
    return json.loads(ok(platform.deployctl("stats", app, "--json", *args)).stdout)


def requests(platform: RunningDaemon, app: str) -> int:
    found: int = stats(platform, app, "--since", "1h")["apps"][0]["totals"]["requests"]
    return found


@pytest.fixture(scope="module")
def platform(pg_cluster: PrivateCluster) -> Iterator[RunningDaemon]:
    pg_cluster.ensure_database("e2e_traffic")
    try:
        settings = {
            "DEPLOYD_ACCESS_LOG_MAX_BYTES": str(ROTATE_AT),
            "DEPLOYD_HOST_SAMPLE_SECONDS": "0.5",
        }
        with serve(pg_cluster.conninfo("e2e_traffic"), settings) as running:
            yield running
    finally:
        pg_cluster.drop_database("e2e_traffic")


@pytest.fixture(scope="module")
def app(platform: RunningDaemon) -> str:
    base = world_readable_tempdir("deployd-traffic-")
    ok(platform.deployctl("apps", "create", "web", "--git", from_fixture(base, "trafficapp")))
    ok(platform.deployctl("deploy", "web"))
    return "web"


def raw_requests(platform: RunningDaemon, app: str) -> list[list[str]]:
    """nginx's own lines for the app, less deployd's checks (their token is in the log)."""
    log = platform.root / "logs" / "access" / f"{app}.log"
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    tokens = Counter(line[-1] for line in lines)
    own = {t for t in tokens if t != "-"}
    return [line for line in lines if line[-1] not in own]


def test_stats_equal_what_nginx_logged(platform: RunningDaemon, app: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: fetch(platform, app, item[0])[0], MIX))
    assert answers == [status for _, status in MIX]
    logged = raw_requests(platform, app)
    assert len(logged) == len(MIX)

    def caught_up() -> bool:
        return bool(
            stats(platform, app, "--since", "1h")["apps"][0]["totals"]["requests"] == len(MIX)
        )

    wait_for(caught_up, timeout=30)
    found = stats(platform, app, "--since", "1h", "--by", "status")
    totals = found["apps"][0]["totals"]
    assert totals["bytes"] == sum(int(line[3]) for line in logged)
    classes = Counter(f"{int(line[2]) // 100}xx" for line in logged)
    assert totals["statuses"] == dict(classes)
    assert {e["key"]: e["requests"] for e in found["breakdown"]} == {
        "200": 180, "404": 30, "503": 20,
    }  # fmt: skip
    assert totals["errors_rate"] == pytest.approx(20 / len(MIX))
    took = sorted(float(line[4]) * 1000 for line in logged)
    for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
        true = max(took[math.ceil(q * len(took)) - 1], 1.0)  # nginx logs whole milliseconds
        assert abs(totals[key] - true) / true <= traffic.ERROR + 0.5 / true, (key, totals, true)
    assert totals["p99_ms"] >= 250  # the slow requests are in the tail
    paths = stats(platform, app, "--since", "1h", "--by", "path")["breakdown"]
    assert {"key": "/page", "requests": 12} in paths  # query strings are not paths
    assert found["series"] and sum(p["requests"] for p in found["series"]) == len(MIX)
    summary = json.loads(ok(platform.deployctl("stats", "--json")).stdout)
    assert {a["app"]: a["totals"]["requests"] for a in summary["apps"]}[app] == len(MIX)
    everyone = sum(a["totals"]["requests"] for a in summary["apps"])  # the dashboard's chart
    assert sum(p["requests"] for p in summary["series"]) == everyone
    snapshot: Any = platform.call("system.snapshot")
    hour = sum(a.totals.requests for a in snapshot.traffic)
    assert hour >= len(MIX) and sum(p.requests for p in snapshot.traffic_series) == hour


def test_people_get_a_chart_in_eighty_columns(platform: RunningDaemon, app: str) -> None:
    shown = ok(platform.deployctl("stats", app, "--since", "2h", "--by", "path"))
    lines = shown.stdout.splitlines()
    assert any(line.startswith("requests  ") for line in lines)
    assert max(len(line) for line in lines) <= 80, shown.stdout
    assert "/status/404" in shown.stdout and "p95" in shown.stdout


def test_top_and_disk_say_what_the_app_uses(platform: RunningDaemon, app: str) -> None:
    top = json.loads(ok(platform.deployctl("top", "--json")).stdout)
    assert top["host"]["cpus"] >= 1 and top["host"]["memory_used"] > 0
    mine = next(a for a in top["apps"] if a["app"] == app)
    assert [p["name"] for p in mine["processes"]] == ["web.1"] and mine["rss_bytes"] > 0
    disk = json.loads(ok(platform.deployctl("disk", "--json")).stdout)
    used = next(a for a in disk["apps"] if a["app"] == app)
    assert used["builds_bytes"] > 0 and used["logs_bytes"] > 0
    assert disk["host"] and all(d["total_bytes"] > 0 for d in disk["host"])
    shown = ok(platform.deployctl("top")).stdout
    assert "web.1" in shown and "load" in shown


@pytest.mark.parametrize("since", ["yesterday", "0h", "2026-13-01..2026-13-02", "5d..", "1y"])
def test_since_garbage_is_refused_in_words(platform: RunningDaemon, app: str, since: str) -> None:
    refused = platform.deployctl("stats", app, "--since", since)
    assert (refused.returncode == 2 and "90m, 2h, 7d" in refused.stderr) or "day" in refused.stderr
    assert "Traceback" not in refused.stderr


def synthetic(at: float, count: int, start: int = 0) -> str:
    """Lines as nginx writes them for the app, `count` of them, a second apart each 100."""
    return "".join(
        "\t".join(["v1", f"{at + i / 100:.3f}", "200" if i % 10 else "500", str(100 + i % 7),
                   "0.004", "GET", "web.localhost", f"/s/{(start + i) % 13}", "-", "bench",
                   f"198.51.100.{i % 50}", "-"]) + "\n"
        for i in range(count)
    )  # fmt: skip


def test_a_daemon_killed_mid_ingestion_counts_every_line_once(
    platform: RunningDaemon, app: str
) -> None:
    log = platform.root / "logs" / "access" / f"{app}.log"
    before = requests(platform, app)
    at = time.time() - 3100  # 300,000 lines, 100 a second: all within the last hour
    written = 0
    with log.open("a") as out:  # appended as nginx appends, while the daemon reads
        for chunk in range(6):
            out.write(synthetic(at, 50_000, chunk * 50_000))
            out.flush()
            written += 50_000
    time.sleep(0.3)
    platform.stop(signal.SIGKILL)
    again = start_daemon(["serve"], platform.root, platform.env)
    platform.process = again.process  # the module's daemon from here on
    wait_for(lambda: requests(platform, app) == before + written, timeout=60)
    totals = stats(platform, app, "--since", "1h")["apps"][0]["totals"]
    assert totals["statuses"].get("5xx", 0) >= written // 10
    wait_for(lambda: log.stat().st_size < ROTATE_AT)  # read to its end, then rotated
    assert log.with_name(log.name + ".1").exists()
    assert requests(platform, app) == before + written  # and nothing counted twice


def test_a_rotated_log_loses_no_line(platform: RunningDaemon, app: str) -> None:
    log = platform.root / "logs" / "access" / f"{app}.log"
    before = requests(platform, app)
    fetch(platform, app, "/before-rotation")  # once counted, the ingester is in this file
    wait_for(lambda: requests(platform, app) == before + 1, timeout=30)
    with log.open("a") as out:
        out.write(synthetic(time.time() - 30, 1000))
    os.replace(log, log.with_name(log.name + ".1"))  # as logrotate does, then reloads nginx
    with log.open("a") as out:
        out.write(synthetic(time.time() - 20, 500))
    subprocess.run(
        ["kill", "-HUP", (platform.root / "nginx" / "nginx.pid").read_text().strip()],
        check=True,
    )
    fetch(platform, app, "/after-rotation")
    wait_for(lambda: requests(platform, app) == before + 1502, timeout=30)
    assert Path(str(log) + ".1").exists()


def test_follow_shows_each_second_as_it_happens(platform: RunningDaemon, app: str) -> None:
    follower = subprocess.Popen(
        [str(BIN / "deployctl"), "--socket",
         str(platform.socket), "stats", app, "-f", "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follower.stdout is not None
        json.loads(follower.stdout.readline())  # the first second: it is following
        for _ in range(25):
            fetch(platform, app, "/status/503")
        seen = 0
        for _ in range(5):
            point = json.loads(follower.stdout.readline())
            seen += point["requests"]
            if seen >= 25:
                break
        assert seen == 25 and point["statuses"].get("5xx", 0) > 0
    finally:
        follower.terminate()
        follower.wait(10)


def test_host_samples_say_the_requests_and_errors_per_second(
    platform: RunningDaemon, app: str
) -> None:
    """A storm of 503s shows as errors per second in the samples a dashboard gets."""
    stop = threading.Event()
    sent = [0]

    def hammer() -> None:
        while not stop.is_set():
            fetch(platform, app, "/status/503")
            sent[0] += 1

    worker = threading.Thread(target=hammer)
    with platform.client() as client:
        _, stream = client.stream("events.subscribe", {"kinds": ["host.sample"]})
        started = time.monotonic()
        worker.start()
        try:
            samples = (HostSample.model_validate(e["data"]) for e in islice(stream, 80))
            storm = next((s for s in samples if s.errors_per_s == s.requests_per_s > 0), None)
        finally:
            stop.set()
            worker.join()
    assert storm is not None, "no sample counted the 503s"
    assert storm.requests_per_s <= 2 * sent[0] / (time.monotonic() - started)
