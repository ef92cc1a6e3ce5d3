from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployd.store.cluster import PrivateCluster
from tests.support.daemon import RunningDaemon, serve

_names = itertools.count(1)


@pytest.fixture(scope="module")
def module_db(pg_cluster: PrivateCluster) -> Iterator[str]:
    name = f"module_{next(_names)}"
    pg_cluster.ensure_database(name)
    try:
        yield pg_cluster.conninfo(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture(scope="module")
def daemon(module_db: str) -> Iterator[RunningDaemon]:
    """`deployd serve` on a database of its own, shared by the tests of one module."""
    with serve(module_db, {"DEPLOYD_HANDSHAKE_TIMEOUT": "1.5"}) as running:
        yield running


@pytest.fixture
def workdir() -> Iterator[Path]:
    import shutil

    from tests.support.daemon import world_readable_tempdir

    path = world_readable_tempdir("deployd-repo-")
    yield path
    shutil.rmtree(path, ignore_errors=True)
