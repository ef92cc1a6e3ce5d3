"""Databases' figures (issue 12), on this machine's PostgreSQL 15, loopback.

1. `deployctl db create NAME --app APP` (which follows the config release) until the app
   answers with the database: the first one (the dev cluster is made then) and a second.
   Target: ≤ 5 s plus the app's own boot.
2. Backup + verify of a ~1 GB database (`--gb`) beside plain `pg_dump -Fc` of the same
   database, in the same run. Target: verification costs ≤ 15 % more.
3. Restore (checks, restore into a new database, row counts) beside plain `pg_restore`
   of the same file into an empty database. Target: ≤ 1.5x pg_restore alone.

    .venv/bin/python bench/databases.py [--gb 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import ctl, dev_daemon  # noqa: E402

from deployd.engine import databases as engine  # noqa: E402
from deployd.store.cluster import PrivateCluster, find_pg_bindir  # noqa: E402
from deployd.store.databases import BackupTrigger  # noqa: E402
from tests.support.daemon import world_readable_tempdir  # noqa: E402
from tests.support.databases import staged  # noqa: E402
from tests.support.repos import fixture_files, repository  # noqa: E402

TABLES = 4
ROUNDS = 3


def _runs(times: list[float]) -> str:
    return " / ".join(f"{t:.1f}" for t in times) + " s"


def as_tools_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def get(port: int, app: str, path: str = "/") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": f"{app}.localhost"})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def create_to_answer() -> None:
    print("## db create --app until the app answers with its database")
    base = world_readable_tempdir("deployd-bench-db-")
    url = repository(base, "dbapp", fixture_files("dbapp"))
    port = 18000 + os.getpid() % 1000
    with dev_daemon(["--http-port", str(port), "--no-example"]) as (socket, _):
        ctl(socket, "apps", "create", "shop", "--git", url)
        ctl(socket, "deploy", "shop")
        for name, note in (("shopdb", "first: the dev cluster is made"), ("shopdb2", "second")):
            if name == "shopdb2":
                ctl(socket, "db", "unlink", "shopdb", "shop")
            started = time.monotonic()
            ctl(socket, "db", "create", name, "--app", "shop")
            linked = time.monotonic()
            while get(port, "shop", "/add?item=x") != 200:
                time.sleep(0.05)
            answered = time.monotonic()
            print(
                f"{note}: db create --app {linked - started:.2f} s (config release included), "
                f"app answers from the database {answered - started:.2f} s"
            )
    shutil.rmtree(base, ignore_errors=True)


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True)
    return time.monotonic() - started


async def backup_and_restore(gb: float) -> None:
    print(f"## backup + verify, restore + check of a ~{gb:g} GB database")
    base = world_readable_tempdir("deployd-bench-pg-")
    state = PrivateCluster(base / "state", durable=False)
    apps = PrivateCluster(base / "apps", durable=True, on_loopback=True)
    for cluster in (state, apps):
        cluster.init()
        cluster.start()
    state.ensure_database("bench")
    bindir = find_pg_bindir()
    try:
        async with staged(state.conninfo("bench"), apps) as platform:
            await engine.create(platform, "big", "bench")
            rows = int(gb * 1024**3 / 160 / TABLES)
            fill = "".join(
                f"CREATE TABLE t{i} AS SELECT g AS id, md5(g::text) AS a, "
                f"md5((g * {i + 7})::text) || md5(g::text) AS b, g % 1000 AS c "
                f"FROM generate_series(1, {rows}) g; ALTER TABLE t{i} OWNER TO big;"
                for i in range(TABLES)
            )
            subprocess.run(
                as_tools_user([str(bindir / "psql"), apps.conninfo("big"), "-qc", fill]),
                check=True,
            )
            size = await platform.databases.usage()
            print(f"database: {size['big'].size_bytes / 1024**3:.2f} GiB, {TABLES} tables, "
                  f"{rows * TABLES} rows")  # fmt: skip
            out = base / "plain.dump"
            plain_times: list[float] = []
            ours_times: list[float] = []
            backup = None
            for _ in range(ROUNDS):  # alternated, so neither always reads a warmer cache
                out.unlink(missing_ok=True)
                out.touch()
                if os.geteuid() == 0:
                    shutil.chown(out, "postgres")
                plain_times.append(
                    timed(
                        as_tools_user(
                            [str(bindir / "pg_dump"), "-Fc", "-f", str(out), apps.conninfo("big")]
                        )
                    )
                )
                started = time.monotonic()
                backup = await engine.backup(platform, "big", BackupTrigger.MANUAL, "bench")
                ours_times.append(time.monotonic() - started)
            assert backup is not None
            dump_alone, ours = statistics.median(plain_times), statistics.median(ours_times)
            print(
                f"pg_dump -Fc alone: {_runs(plain_times)} ({out.stat().st_size / 1024**2:.0f} "
                f"MiB); deployd backup + verify: {_runs(ours_times)} "
                f"({(backup.size_bytes or 0) / 1024**2:.0f} MiB): medians "
                f"{(ours / dump_alone - 1) * 100:+.0f} %"
            )
            subprocess.run(
                as_tools_user([str(bindir / "createdb"), "-h", str(apps.directory), "-p",
                               str(apps.port), "-U", "deployd", "plain"]),
                check=True,
            )  # fmt: skip
            restore_alone = timed(
                as_tools_user([str(bindir / "pg_restore"), "-d", apps.conninfo("plain"), str(out)])
            )
            started = time.monotonic()
            await engine.restore(platform, "big", backup.id, "bench", into="bigcopy")
            ours = time.monotonic() - started
            print(
                f"pg_restore alone: {restore_alone:.1f} s; deployd restore (checks, restore, "
                f"row counts): {ours:.1f} s: {ours / restore_alone:.2f}x"
            )
            started = time.monotonic()
            await engine.restore(platform, "big", backup.id, "bench")
            print(f"restore in place (and swap): {time.monotonic() - started:.1f} s")
    finally:
        for cluster in (apps, state):
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--skip-create", action="store_true")
    args = parser.parse_args()
    if not args.skip_create:
        create_to_answer()
    asyncio.run(backup_and_restore(args.gb))
    print(json.dumps({"gb": args.gb}))


if __name__ == "__main__":
    main()
