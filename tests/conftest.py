"""Fixtures shared by every layer: one real PostgreSQL cluster for the whole session."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from deployd.store.cluster import PrivateCluster
from tests.support.daemon import world_readable_tempdir

_names = itertools.count(1)


@contextmanager
def running_cluster(prefix: str, *, on_loopback: bool = False) -> Iterator[PrivateCluster]:
    base = world_readable_tempdir(prefix)
    cluster = PrivateCluster(base / "pg", durable=False, on_loopback=on_loopback)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    with running_cluster("deployd-pg-") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def apps_pg() -> Iterator[PrivateCluster]:
    """The apps' databases' server, apart from deployd's (as production has it): apps
    reach it on loopback with their own passwords, deployd as its admin on its socket."""
    with running_cluster("deployd-apps-pg-", on_loopback=True) as cluster:
        yield cluster


@pytest.fixture
def fresh_db(pg_cluster: PrivateCluster) -> Iterator[str]:
    """A new empty database; yields its conninfo."""
    name = f"test_{next(_names)}"
    pg_cluster.ensure_database(name)
    try:
        yield pg_cluster.conninfo(name)
    finally:
        pg_cluster.drop_database(name)
