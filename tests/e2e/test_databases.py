"""Databases for apps (issue 12) through deployctl, against a real PostgreSQL apart from
deployd's own: an app linked to a database keeps its rows there; another database's role
is refused by PostgreSQL itself; a backup is verified, a restore checked table by table
and swapped in, a corrupt file refused before anything changes, a full disk leaves the
earlier backups as they were."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, free_port, serve, world_readable_tempdir
from tests.support.repos import from_fixture

PSQL = "/usr/bin/psql"


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result).stdout)


BUCKET = "deployd-backups"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A local server that speaks the S3 API (moto); yields its endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    bucket_client(endpoint).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def bucket_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )


@pytest.fixture(scope="module")
def platform(
    pg_cluster: PrivateCluster, apps_pg: PrivateCluster, s3: str
) -> Iterator[RunningDaemon]:
    """A daemon whose apps' databases live on their own server (DEPLOYD_APPS_DATABASE_URL),
    with remote storage for copies of backups (set up by a test)."""
    pg_cluster.ensure_database("e2e_databases")
    try:
        env = {
            "DEPLOYD_APPS_DATABASE_URL": apps_pg.conninfo("postgres"),
            "DEPLOYD_BACKUP_S3_ENDPOINT": s3,
            "DEPLOYD_BACKUP_S3_BUCKET": BUCKET,
        }
        with serve(pg_cluster.conninfo("e2e_databases"), env) as running:
            yield running
    finally:
        pg_cluster.drop_database("e2e_databases")


@pytest.fixture(scope="module")
def shop(platform: RunningDaemon) -> str:
    """An app deployed before it had a database."""
    base = world_readable_tempdir("deployd-dbapp-")
    ok(platform.deployctl("apps", "create", "shop", "--git", from_fixture(base, "dbapp")))
    ok(platform.deployctl("deploy", "shop"))
    return "shop"


def url_of(platform: RunningDaemon, name: str) -> str:
    url: str = as_json(platform.deployctl("db", "show", name, "--reveal", "--json"))["url"]
    return url


def psql(url: str, statement: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PSQL, url, "-X", "-At", "-c", statement], capture_output=True, text=True, timeout=30
    )


def items(platform: RunningDaemon) -> list[str]:
    status, _, body = fetch(platform, "shop")
    assert status == 200, body
    found: list[str] = json.loads(body)["items"]
    return found


def test_a_created_database_reaches_the_app_as_database_url(
    platform: RunningDaemon, shop: str
) -> None:
    created = as_json(platform.deployctl("db", "create", "shopdb", "--app", shop, "--json"))
    assert created["links"] == [{"app": "shop", "variable": "DATABASE_URL"}]
    assert created["password"] is None and created["url"] is None
    assert created["job"]["state"] == "succeeded"  # followed: the config release is live
    for item in ("apples", "pears"):
        status, _, body = fetch(platform, shop, f"/add?item={item}")
        assert status == 200, body
    assert items(platform) == ["apples", "pears"]
    listed = as_json(platform.deployctl("db", "list", "--json"))["databases"]
    mine = next(d for d in listed if d["name"] == "shopdb")
    assert mine["size_bytes"] > 0 and mine["links"][0]["app"] == "shop"
    # masked everywhere but --reveal, which is audited
    env = ok(platform.deployctl("env", "list", shop)).stdout
    assert "DATABASE_URL" in env and "postgres://" not in env
    url = url_of(platform, "shopdb")
    assert url.startswith("postgres://shopdb:") and url.endswith("/shopdb")
    audit = ok(platform.deployctl("audit", "--json", "--limit", "5")).stdout
    assert '"databases.reveal"' in audit and url.split(":")[2].split("@")[0] not in audit


def test_migrate_runs_the_release_command_and_db_show_keeps_its_outcome(
    platform: RunningDaemon, shop: str
) -> None:
    migrated = ok(platform.deployctl("db", "migrate", shop))
    assert "migrated: items is there" in migrated.stdout
    shown = as_json(platform.deployctl("db", "show", "shopdb", "--json"))
    assert shown["migrate_app"] == shop and shown["migrate_status"] == 0
    assert "migrated: items is there" in shown["migrate_output"]
    assert "last migration" in ok(platform.deployctl("db", "show", "shopdb")).stdout
    nothing = platform.deployctl("db", "migrate", "nosuchapp")
    assert nothing.returncode == 1 and "no app named nosuchapp" in nothing.stderr


def test_another_databases_role_is_refused_by_postgres_itself(
    platform: RunningDaemon, shop: str
) -> None:
    ok(platform.deployctl("db", "create", "otherdb"))
    other = url_of(platform, "otherdb")
    refused = psql(other.rsplit("/", 1)[0] + "/shopdb", "SELECT 1")
    assert refused.returncode != 0 and "CONNECT" in refused.stderr, refused.stderr
    assert psql(other, "SELECT current_user").stdout.strip() == "otherdb"


def test_psql_runs_as_the_databases_role_with_the_callers_stdin(
    platform: RunningDaemon, shop: str
) -> None:
    session = platform.deployctl(
        "db", "psql", "shopdb", input="\\pset format unaligned\nSELECT current_user;\n"
    )
    assert session.returncode == 0, session.stderr
    assert "shopdb" in session.stdout
    failing = platform.deployctl(
        "db", "psql", "shopdb", input="\\set ON_ERROR_STOP 1\nSELECT 1/0;\n"
    )
    assert failing.returncode == 3 and "division by zero" in failing.stderr  # psql's own status
    audit = ok(platform.deployctl("audit", "--json", "--limit", "5")).stdout
    assert '"databases.psql"' in audit


def test_a_viewer_sees_no_password_and_gets_no_psql(platform: RunningDaemon, shop: str) -> None:
    ok(
        platform.deployctl(
            "users", "add", "db-viewer", "--role", "viewer", "--password-stdin",
            input="a-long-password\n",
        )
    )  # fmt: skip
    token = as_json(platform.deployctl("users", "token", "db-viewer", "--json"))["token"]
    as_viewer = {"DEPLOYD_TOKEN": token}
    shown = platform.deployctl("db", "show", "shopdb", "--json", env=as_viewer)
    assert shown.returncode == 0 and json.loads(shown.stdout)["password"] is None
    password = url_of(platform, "shopdb").split(":")[2].split("@")[0]
    for args in (["show", "shopdb", "--reveal"], ["psql", "shopdb"]):
        denied = platform.deployctl("db", *args, env=as_viewer)
        assert denied.returncode == 1 and "deployer" in denied.stderr, denied.stderr
        assert password not in denied.stdout + denied.stderr


def test_backup_then_a_dropped_table_comes_back_with_a_restore(
    platform: RunningDaemon, shop: str
) -> None:
    backup = as_json(platform.deployctl("db", "backup", "shopdb", "--json"))
    assert backup["status"] == "verified" and backup["tables"] == 1 and backup["rows"] == 2
    assert len(backup["sha256"]) == 64 and backup["size_bytes"] > 0
    url = url_of(platform, "shopdb")
    ok(psql(url, "DROP TABLE items"))
    assert fetch(platform, shop)[0] == 500  # the app lost its data

    restored = as_json(
        platform.deployctl("db", "restore", "shopdb", str(backup["id"]), "--yes", "--json")
    )
    assert restored["tables"] == 1 and restored["rows"] == 2
    assert restored["kept"].startswith("shopdb-before-restore-")
    assert items(platform) == ["apples", "pears"]  # the app reconnects to the restored one
    owner = psql(url, "SELECT tableowner FROM pg_tables WHERE tablename = 'items'")
    assert owner.stdout.strip() == "shopdb"  # the app can still write to what came back
    shown = as_json(platform.deployctl("db", "show", "shopdb", "--json"))
    assert shown["kept"] == [restored["kept"]]
    dropped = as_json(platform.deployctl("db", "drop", "shopdb", "--kept", "--yes", "--json"))
    assert dropped["dropped"] == [restored["kept"]] and dropped["final_backup"] is None
    assert as_json(platform.deployctl("db", "show", "shopdb", "--json"))["kept"] == []


def test_a_corrupt_backup_is_refused_before_anything_changes(
    platform: RunningDaemon, shop: str
) -> None:
    backup = as_json(platform.deployctl("db", "backup", "shopdb", "--json"))
    dump = platform.root / "data" / "backups" / "shopdb" / f"{backup['id']}.dump"
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) // 2])  # truncated
    refused = platform.deployctl("db", "restore", "shopdb", str(backup["id"]), "--yes")
    assert refused.returncode == 1 and "truncated or corrupt" in refused.stderr, refused.stderr
    dump.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])  # one byte flipped
    refused = platform.deployctl("db", "restore", "shopdb", str(backup["id"]), "--yes")
    assert refused.returncode == 1 and "sha256 differs" in refused.stderr
    assert items(platform) == ["apples", "pears"]
    garbage = platform.deployctl("db", "restore", "shopdb", "999999", "--yes")
    assert garbage.returncode == 1 and "no backup 999999" in garbage.stderr


def test_a_restore_beside_makes_a_new_database_with_its_own_role(
    platform: RunningDaemon, shop: str
) -> None:
    backup = as_json(platform.deployctl("db", "backup", "shopdb", "--json"))
    beside = as_json(
        platform.deployctl(
            "db", "restore", "shopdb", str(backup["id"]), "--into", "shopcopy", "--json"
        )
    )
    assert beside["database"] == "shopcopy" and beside["kept"] is None
    copy = url_of(platform, "shopcopy")
    assert psql(copy, "SELECT count(*) FROM items").stdout.strip() == "2"
    assert psql(copy, "SELECT current_user").stdout.strip() == "shopcopy"
    ok(platform.deployctl("db", "drop", "shopcopy", "--yes"))


@pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="mounting a small filesystem needs root",
)
def test_a_full_disk_fails_the_backup_and_keeps_the_earlier_ones(
    platform: RunningDaemon, shop: str
) -> None:
    ok(platform.deployctl("db", "create", "bigdb"))
    url = url_of(platform, "bigdb")
    ok(psql(url, "CREATE TABLE blobs AS SELECT md5(random()::text) || md5(random()::text) AS b "
                 "FROM generate_series(1, 200000)"))  # fmt: skip
    first = as_json(platform.deployctl("db", "backup", "bigdb", "--json"))
    directory = platform.root / "data" / "backups" / "bigdb"
    earlier = (directory / f"{first['id']}.dump").read_bytes()
    small = world_readable_tempdir("deployd-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        (small / "bigdb").mkdir()
        directory.rename(platform.root / "data" / "backups" / "bigdb.real")
        directory.symlink_to(small / "bigdb")  # the backups' disk is now tiny
        failed = platform.deployctl("db", "backup", "bigdb")
        assert failed.returncode == 1 and "No space left on device" in failed.stderr, failed.stderr
        assert list((small / "bigdb").iterdir()) == []  # the partial file is gone
    finally:
        if directory.is_symlink():
            directory.unlink()
        (platform.root / "data" / "backups" / "bigdb.real").rename(directory)
        subprocess.run(["umount", str(small)], check=True)
    assert (directory / f"{first['id']}.dump").read_bytes() == earlier
    listed = as_json(platform.deployctl("db", "backups", "bigdb", "--json"))["backups"]
    assert [b["status"] for b in listed] == ["failed", "verified"]
    assert "No space left on device" in listed[0]["error"]
    ok(platform.deployctl("db", "drop", "bigdb", "--yes"))


def test_drop_is_refused_while_linked_and_keeps_a_final_backup(
    platform: RunningDaemon, shop: str
) -> None:
    linked = platform.deployctl("db", "drop", "shopdb", "--yes")
    assert linked.returncode == 1 and "linked to shop" in linked.stderr
    ok(platform.deployctl("db", "unlink", "shopdb", shop))
    assert "DATABASE_URL" not in ok(platform.deployctl("env", "list", shop)).stdout
    dropped = as_json(platform.deployctl("db", "drop", "shopdb", "--yes", "--json"))
    final = dropped["final_backup"]
    assert final["status"] == "verified" and final["trigger"] == "before-drop"
    backups = as_json(platform.deployctl("db", "backups", "shopdb", "--json"))["backups"]
    assert backups[0]["id"] == final["id"]  # the record and file outlive the database
    assert Path(platform.root / "data" / "backups" / "shopdb" / f"{final['id']}.dump").exists()
    gone = platform.deployctl("db", "show", "shopdb")
    assert gone.returncode == 1 and "no database named shopdb" in gone.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["create", "Bad_Name"], "lowercase letters, digits and dashes"),
        (["create", "postgres"], "uses itself"),
        (["create", "template1"], "uses itself"),
        (["link", "nosuchdb", "shop"], "no database named nosuchdb"),
        (["schedule", "otherdb", "daily", "25:00"], "HH:MM"),
        (["schedule", "otherdb", "monthly"], "hourly"),
        (["link", "otherdb", "shop", "--as", "PORT"], "set by deployd"),
        (["create", "otherdb"], "exists already"),
        (["restore", "otherdb", "1", "--yes"], "is of shopdb, not otherdb"),
    ],
)
def test_bad_input_gets_a_clear_error(
    platform: RunningDaemon, shop: str, args: list[str], words: str
) -> None:
    result = platform.deployctl("db", *args)
    assert result.returncode in (1, 2), result
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_schedule_says_when_it_runs_next(platform: RunningDaemon, shop: str) -> None:
    scheduled = as_json(
        platform.deployctl("db", "schedule", "otherdb", "daily", "03:00", "--keep", "7", "--json")
    )
    assert scheduled["schedule"] == "daily at 03:00 UTC, keeping 7"
    assert scheduled["next_run_at"].endswith("03:00:00Z") or "T03:00:00" in scheduled["next_run_at"]
    off = as_json(platform.deployctl("db", "schedule", "otherdb", "off", "--json"))
    assert off["schedule"] is None


def test_db_show_charts_the_size_the_daemon_recorded(platform: RunningDaemon) -> None:
    """A week of samples (one every 5 minutes, as the daemon takes them) comes back thinned
    to a chart's points, its ends exact; `--since` takes what `stats --since` takes. (The
    daemon may add a sample of its own, the newest, while the test runs.)"""
    ok(platform.deployctl("db", "create", "sizedb"))
    now = datetime.now(UTC)
    week = [(now - timedelta(minutes=5 * n), (300 - n // 12) * 2**20) for n in range(1, 2016)]
    oldest, newest = week[-1], week[0]
    with psycopg.connect(platform.env["DEPLOYD_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("UPDATE databases SET created_at = %s WHERE name = 'sizedb'", (oldest[0],))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO database_sizes (database, at, size_bytes, connections) "
                "VALUES ('sizedb', %s, %s, 0)",
                week,
            )
            cursor.execute(  # an earlier database of the same name is not charted
                "INSERT INTO database_sizes VALUES ('sizedb', %s, 1, 0)", (now - timedelta(days=9),)
            )

    shown = as_json(platform.deployctl("db", "show", "sizedb", "--json"))
    points = [
        (datetime.fromisoformat(p["at"]), p["bytes"]) for p in shown["size_history"]["points"]
    ]
    assert 100 <= len(points) <= 200
    assert points[0] == oldest
    ours = [p for p in points if p[0] <= newest[0]]
    assert [b for _, b in ours] == sorted(b for _, b in ours)  # it grew, in order
    assert points[-1] == newest or points[-1][0] > newest[0]  # or the daemon's own sample

    two_days = as_json(platform.deployctl("db", "show", "sizedb", "--since", "2d", "--json"))
    recent = two_days["size_history"]["points"]
    assert 2 <= len(recent) <= 200
    assert all(datetime.fromisoformat(p["at"]) >= now - timedelta(days=2) for p in recent)
    past = platform.deployctl("db", "show", "sizedb", "--since", "2020-01-01..2020-01-02", "--json")
    assert as_json(past)["size_history"]["points"] == []

    human = ok(platform.deployctl("db", "show", "sizedb")).stdout
    line = next(row for row in human.splitlines() if row.startswith("size over time"))
    assert re.search(r"  [▁-█]{60}  [+-][0-9.]+ (B|KiB|MiB) in 7 d$", line), line
    wrong = platform.deployctl("db", "show", "sizedb", "--since", "yesterday")
    assert wrong.returncode == 2 and "90m, 2h, 7d or 2w" in wrong.stderr, wrong.stderr
    ok(platform.deployctl("db", "drop", "sizedb", "--yes"))


@pytest.mark.skipif(
    not shutil.which("age") and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="needs age (apt-get install age)",
)
def test_backups_are_copied_off_the_host_encrypted_and_tracked_apart(
    platform: RunningDaemon, shop: str, s3: str
) -> None:
    assert as_json(platform.deployctl("db", "remote", "show", "--json"))["ready"] is False
    set_up = platform.deployctl(
        "db", "remote", "set", "--access-key-id", "test-key", "--secret-stdin", "--json",
        input="test-secret\n",
    )  # fmt: skip
    remote = as_json(set_up)
    assert remote["ready"] is True and remote["recipient"].startswith("age1")
    identity = remote["identity"]
    assert identity.startswith("AGE-SECRET-KEY-1")
    again = as_json(platform.deployctl("db", "remote", "show", "--json"))
    assert again["identity"] is None and "test-secret" not in json.dumps(again)

    ok(platform.deployctl("db", "create", "copied"))
    ok(psql(url_of(platform, "copied"), "CREATE TABLE notes AS SELECT 'secret-row-' || g AS t "
                                        "FROM generate_series(1, 100) g"))  # fmt: skip
    backup = as_json(platform.deployctl("db", "backup", "copied", "--json"))
    assert backup["location"] == "local+remote" and backup["remote"] == "copied"
    key = f"deployd/copied/{backup['id']}.dump.age"
    sealed = bucket_client(s3).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert sealed.startswith(b"age-encryption.org/v1") and b"secret-row-" not in sealed
    work = world_readable_tempdir("deployd-age-")
    (work / "key").write_text(identity + "\n")
    (work / "copy.age").write_bytes(sealed)
    opened = subprocess.run(
        ["age", "--decrypt", "--identity", str(work / "key"), str(work / "copy.age")],
        capture_output=True,
        check=True,
    ).stdout
    local = platform.root / "data" / "backups" / "copied" / f"{backup['id']}.dump"
    assert opened == local.read_bytes()  # the operator opens it with age and the identity

    local.unlink()  # the host lost the file: the restore fetches the copy
    restored = as_json(
        platform.deployctl("db", "restore", "copied", str(backup["id"]), "--yes", "--json")
    )
    assert restored["rows"] == 100 and local.read_bytes() == opened

    bucket_client(s3).delete_object(Bucket=BUCKET, Key=key)
    client = bucket_client(s3)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)  # the storage now refuses
    try:
        refused = as_json(platform.deployctl("db", "backup", "copied", "--json"))
    finally:
        client.create_bucket(Bucket=BUCKET)
    assert refused["status"] == "verified" and refused["location"] == "local"
    assert refused["remote"] == "failed" and "NoSuchBucket" in refused["remote_error"]
    events = ok(platform.deployctl("events", "--kind", "db", "--json")).stdout
    assert "was not copied off this host" in events and "test-secret" not in events
    listed = ok(platform.deployctl("db", "backups", "copied")).stdout
    assert "local (remote failed)" in listed
    assert re.search(
        r"remote copy failed \(attempt 1/10, next in [45] min\): .*NoSuchBucket", listed
    )
    ok(platform.deployctl("db", "drop", "copied", "--yes"))


def test_an_unreachable_apps_server_is_said_and_nothing_else_stops(
    pg_cluster: PrivateCluster,
) -> None:
    pg_cluster.ensure_database("e2e_databases_down")
    closed = f"host=127.0.0.1 port={free_port()} user=deployd dbname=postgres"
    try:
        with serve(
            pg_cluster.conninfo("e2e_databases_down"), {"DEPLOYD_APPS_DATABASE_URL": closed}
        ) as daemon:
            assert as_json(daemon.deployctl("db", "list", "--json"))["databases"] == []
            refused = daemon.deployctl("db", "create", "somedb")
            assert refused.returncode == 1 and "unreachable" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
            assert as_json(daemon.deployctl("db", "list", "--json"))["databases"] == []
            ok(daemon.deployctl("status"))  # the rest of deployd carries on
            ok(daemon.deployctl("apps", "list"))
    finally:
        pg_cluster.drop_database("e2e_databases_down")
