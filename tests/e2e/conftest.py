from __future__ import annotations

import http.client
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployd.store.cluster import PrivateCluster
from tests.support.browser import browser, shots
from tests.support.daemon import RunningDaemon, serve, world_readable_tempdir

__all__ = ["browser", "shots"]  # fixtures of the web GUI's browser tests

_names = itertools.count(1)


@pytest.fixture(scope="module")
def platform(pg_cluster: PrivateCluster) -> Iterator[RunningDaemon]:
    """A re-rooted daemon with its private nginx, on a database of its own."""
    name = f"e2e_{next(_names)}"
    pg_cluster.ensure_database(name)
    try:
        with serve(pg_cluster.conninfo(name)) as running:
            yield running
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def workdir() -> Iterator[Path]:
    import shutil

    path = world_readable_tempdir("deployd-repo-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def fetch(daemon: RunningDaemon, app: str, path: str = "/") -> tuple[int, dict[str, str], str]:
    """GET through the daemon's nginx, as a browser asking for <app>.localhost would."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": f"{app}.localhost"})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        conn.close()
