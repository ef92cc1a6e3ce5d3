"""Fixtures shared by every layer: one real PostgreSQL cluster for the whole session."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator

import pytest

from deployd.store.cluster import PrivateCluster
from tests.support.daemon import world_readable_tempdir

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    base = world_readable_tempdir("deployd-pg-")
    cluster = PrivateCluster(base / "pg", durable=False)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def apps_pg() -> Iterator[PrivateCluster]:
    """The apps' databases' server, apart from deployd's (as production has it): apps
    reach it on loopback with their own passwords, deployd as its admin on its socket."""
    base = world_readable_tempdir("deployd-apps-pg-")
    cluster = PrivateCluster(base / "pg", durable=False, on_loopback=True)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_db(pg_cluster: PrivateCluster) -> Iterator[str]:
    """A new empty database; yields its conninfo."""
    name = f"test_{next(_names)}"
    pg_cluster.ensure_database(name)
    try:
        yield pg_cluster.conninfo(name)
    finally:
        pg_cluster.drop_database(name)
