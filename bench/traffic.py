"""Request analytics' figures (issue 13), one core, this machine.

1. Ingest throughput over a 1 M-line log (`--lines`) in deployd's format: the parse and
   rollups alone, and the whole ingester (read, parse, rollups and checkpoint saved in
   PostgreSQL), beside GoAccess (Debian's `goaccess`) on the same requests in nginx's
   combined format, in the same run. Target: ≥ 5x GoAccess.
2. Storage per app per day at 1,000 requests/s (the rollups of a day of such traffic:
   1,440 minutes, 24 hours, 1 day).
3. `stats.show --since 30d` answer time in the daemon's service code (median of 20).
   Target: ≤ 300 ms.

    .venv/bin/python bench/traffic.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployd.domain import traffic  # noqa: E402
from deployd.engine.platform import Platform  # noqa: E402
from deployd.monitor.traffic import TrafficIngester  # noqa: E402
from deployd.protocol.stats import StatsParams  # noqa: E402
from deployd.services import stats as stats_service  # noqa: E402
from deployd.services.core import Caller, Core  # noqa: E402
from deployd.store import apps as app_store  # noqa: E402
from deployd.store import traffic as store  # noqa: E402
from deployd.store.cluster import PrivateCluster  # noqa: E402
from deployd.store.traffic import Period  # noqa: E402
from tests.support.daemon import world_readable_tempdir  # noqa: E402
from tests.support.databases import staged  # noqa: E402

AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]


def requests(count: int, start: float) -> list[tuple[float, int, int, float, str, str, str, str]]:
    rng = random.Random(13)
    paths = [f"/products/{i}" for i in range(500)] + ["/", "/cart", "/login"]
    out = []
    for i in range(count):
        out.append(
            (
                start + i / 1000,  # 1,000 requests a second
                rng.choice((200, 200, 200, 200, 301, 304, 404, 500)),
                rng.randint(200, 60_000),
                rng.lognormvariate(-4, 1),
                rng.choice(paths),
                rng.choice(("-", "https://www.google.com/", "https://news.example/")),
                rng.choice(AGENTS),
                f"203.0.113.{rng.randint(1, 254)}",
            )
        )
    return out


def deployd_lines(reqs: list[tuple[float, int, int, float, str, str, str, str]]) -> str:
    return "".join(
        f"v1\t{at:.3f}\t{status}\t{size}\t{took:.3f}\tGET\tshop.example\t{path}\t{ref}\t"
        f"{agent}\t{client}\t-\n"
        for at, status, size, took, path, ref, agent, client in reqs
    )


def combined_lines(reqs: list[tuple[float, int, int, float, str, str, str, str]]) -> str:
    def stamp(at: float) -> str:
        return datetime.fromtimestamp(at, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")

    return "".join(
        f'{client} - - [{stamp(at)}] "GET {path} HTTP/1.1" {status} {size} "{ref}" "{agent}"\n'
        for at, status, size, took, path, ref, agent, client in reqs
    )


async def thirty_days(platform: Platform) -> None:
    """Thirty days of hours and days like the hour just ingested."""
    now = datetime.now(UTC)
    async with platform.pool.connection() as conn, conn.transaction():
        found = await store.rollups(conn, "shop", Period.HOUR, now - timedelta(days=2), now)
        sample = found["shop"][0].rollup
        today = Period.DAY.start(now)
        hours = {today - timedelta(hours=hour + 24): sample for hour in range(24 * 30)}
        await store.add(conn, "shop", Period.HOUR, hours)
        days = {today - timedelta(days=day + 1): sample for day in range(30)}
        await store.add(conn, "shop", Period.DAY, days)


@dataclass
class FakeNginx:
    access_logs: Path
    check_token: str = "bench-token"  # noqa: S105 (marks deployd's own requests)


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


async def main(lines: int) -> None:
    base = world_readable_tempdir("deployd-bench-traffic-")
    state = PrivateCluster(base / "state", durable=True)
    apps = PrivateCluster(base / "apps", durable=False, on_loopback=True)
    for cluster in (state, apps):
        cluster.init()
        cluster.start()
    state.ensure_database("bench")
    os.sched_setaffinity(0, {0})  # this process's work on one core (PostgreSQL's apart)
    try:
        now = time.time()
        reqs = requests(lines, now - lines / 1000)
        logs = base / "access"
        logs.mkdir()
        (logs / "shop.log").write_text(deployd_lines(reqs))
        (base / "combined.log").write_text(combined_lines(reqs))
        size = (logs / "shop.log").stat().st_size
        print(f"## ingest {lines:,} lines ({size / 1024**2:.0f} MiB in deployd's format)")

        text = (logs / "shop.log").read_text().splitlines()
        salt = {int(now // 86400) + d: b"s" * 16 for d in (-1, 0)}
        started = time.perf_counter()
        traffic.ingest(text, salt, "bench-token")
        parse = time.perf_counter() - started

        goaccess = timed(
            ["taskset", "-c", "0", "goaccess", str(base / "combined.log"), "--log-format=COMBINED",
             "--no-global-config", "-o", str(base / "report.json")]
        )  # fmt: skip

        async with staged(state.conninfo("bench"), apps) as platform:
            platform.nginx = FakeNginx(logs)  # type: ignore[assignment]  # the ingester's view
            ingester = TrafficIngester(platform)
            started = time.perf_counter()
            read = await ingester.ingest("shop", logs / "shop.log")
            whole = time.perf_counter() - started
            assert read == lines, read
            async with platform.pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT period, count(*) AS n, sum(pg_column_size(traffic.*)) AS bytes "
                    "FROM traffic GROUP BY period"
                )
                sizes = {r["period"]: (r["n"], r["bytes"]) for r in await cursor.fetchall()}
                cursor = await conn.execute(
                    "SELECT count(*) AS n, sum(pg_column_size(v.*)) AS bytes "
                    "FROM traffic_visitors v"
                )
                visitors = await cursor.fetchone()
            print(
                f"parse + rollups alone: {lines / parse:,.0f} lines/s; the whole ingester (read, "
                f"rollups and checkpoint in PostgreSQL): {lines / whole:,.0f} lines/s; "
                f"GoAccess 1.7 (one core, COMBINED): {lines / goaccess:,.0f} lines/s: "
                f"{goaccess / whole:.1f} x"
            )
            print("## storage per app per day at 1,000 requests/s")
            per_minute = sizes[Period.MINUTE.value][1] / sizes[Period.MINUTE.value][0]
            per_hour = sizes[Period.HOUR.value][1] / sizes[Period.HOUR.value][0]
            assert visitors is not None
            print(
                f"a minute's rollup {per_minute / 1024:.1f} KiB, an hour's {per_hour / 1024:.1f} "
                f"KiB: a day {(1440 * per_minute + 24 * per_hour) / 1024**2:.1f} MiB of rows "
                f"(plus {visitors['n']} visitor rows, {visitors['bytes'] / 1024:.0f} KiB); "
                f"kept 14 days of minutes: {(14 * 1440 * per_minute) / 1024**2:.0f} MiB"
            )
            print("## stats --since 30d (30 days of hourly rollups)")
            await thirty_days(platform)
            async with platform.pool.connection() as conn:
                await app_store.insert(
                    conn, name="shop", source_kind="path", source="/srv/shop", branch=None,
                    runtime="process", ports=[21000, 21001], source_uid=None,
                )  # fmt: skip
            core = cast(Core, SimpleNamespace(pool=platform.pool))
            params = StatsParams(app="shop", since="30d")
            times = []
            for _ in range(20):
                started = time.perf_counter()
                await stats_service.show(core, cast(Caller, None), params)
                times.append(time.perf_counter() - started)
            print(f"stats.show shop --since 30d: median {statistics.median(times) * 1000:.0f} ms")
    finally:
        for cluster in (apps, state):
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.lines))
