"""The apps' private cluster speaks TLS on loopback: apps written for Heroku require it
(dj-database-url's ssl_require=True is sslmode=require) and could not connect otherwise."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import psycopg
import pytest

from deployd.store.cluster import TLS_CONF, PrivateCluster
from tests.support.daemon import world_readable_tempdir


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    base = world_readable_tempdir("deployd-tls-pg-")
    made = PrivateCluster(base / "pg", durable=False, on_loopback=True)
    made.init()
    try:
        yield made
    finally:
        made.stop()
        shutil.rmtree(base, ignore_errors=True)


def encrypted(cluster: PrivateCluster) -> bool:
    """Whether a role that gives its password on loopback, asking for sslmode=require,
    gets an encrypted session."""
    url = f"postgresql://app:a-password@127.0.0.1:{cluster.port}/postgres?sslmode=require"
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        return row is not None and row[0] is True


def test_an_apps_cluster_made_without_tls_gets_it_at_its_start_once(
    cluster: PrivateCluster,
) -> None:
    conf = cluster.data / "postgresql.conf"
    assert TLS_CONF not in conf.read_text()  # as an apps' cluster made before TLS was
    cluster.start()
    with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as admin:
        admin.execute("CREATE ROLE app LOGIN PASSWORD 'a-password'")
    assert encrypted(cluster)
    key = cluster.data / "server.key"
    assert key.stat().st_mode & 0o077 == 0
    certificate = (cluster.data / "server.crt").read_bytes()

    cluster.stop()
    cluster.start()
    assert conf.read_text().count(TLS_CONF) == 1
    assert (cluster.data / "server.crt").read_bytes() == certificate  # kept, not remade
    assert encrypted(cluster)
