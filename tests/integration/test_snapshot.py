"""What a dashboard does: `system.snapshot` once at its start, then
`events.subscribe(after_id=last_event_id)` to stay current, host samples included, with
no polling and no event missed or shown twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psutil
import psycopg
import pytest

from deployd import __version__
from deployd.protocol.events import HostSample
from deployd.store.cluster import PrivateCluster
from tests.support.daemon import RunningDaemon, free_port, serve
from tests.support.repos import EXAMPLE
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def daemon(module_db: str) -> Iterator[RunningDaemon]:
    """Samples the host twice a second: a test waits half a second for one, not ten."""
    with serve(module_db, {"DEPLOYD_HOST_SAMPLE_SECONDS": "0.5"}) as running:
        yield running


def until(stream: Iterator[dict[str, Any]], kind: str, user: str) -> list[dict[str, Any]]:
    """Every event of the stream up to the one of `kind` about `user`."""
    seen = []
    for event in stream:
        seen.append(event)
        if event["kind"] == kind and event["data"].get("user") == user:
            return seen
    raise AssertionError(f"the stream ended before {kind} of {user}: {seen}")


def test_a_snapshot_shows_the_apps_status_and_newest_events(daemon: RunningDaemon) -> None:
    daemon.call("apps.create", {"name": "shown", "path": str(EXAMPLE)})
    snapshot: Any = daemon.call("system.snapshot")
    assert "shown" in [app.name for app in snapshot.apps]
    assert snapshot.status.version == __version__ and snapshot.status.database.state == "ok"
    created = [e for e in snapshot.events if e.kind == "app.created"]
    assert [e.app for e in created] == ["shown"]
    assert "daemon.started" in [e.kind for e in snapshot.events]
    ids = [e.id for e in snapshot.events]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert snapshot.last_event_id == ids[0]
    assert snapshot.databases == [] and snapshot.traffic == []


def test_a_snapshot_holds_the_newest_hundred_events(daemon: RunningDaemon) -> None:
    for n in range(101):
        daemon.call("tokens.create", {"name": "admin", "label": f"t{n}"})
    events = daemon.call("system.snapshot").events  # type: ignore[attr-defined]
    assert len(events) == 100
    assert events[0].message.startswith("admin created API token")
    assert events[0].data["token_id"] - events[99].data["token_id"] == 99


def test_subscribing_after_a_snapshot_misses_nothing_and_repeats_nothing(
    daemon: RunningDaemon,
) -> None:
    daemon.call("users.add", {"name": "before", "role": "viewer"})
    snapshot: Any = daemon.call("system.snapshot")
    assert any(e.data.get("user") == "before" for e in snapshot.events)
    daemon.call("users.add", {"name": "between", "role": "viewer"})  # before it subscribes
    with daemon.client() as client:
        _, stream = client.stream("events.subscribe", {"after_id": snapshot.last_event_id})
        daemon.call("users.add", {"name": "after", "role": "viewer"})
        seen = until(stream, "user.added", "after")
    users = [e["data"]["user"] for e in seen if e["kind"] == "user.added"]
    assert users == ["between", "after"]
    assert all(e["id"] > snapshot.last_event_id for e in seen)


def test_host_samples_reach_only_subscribers_that_ask_for_them(daemon: RunningDaemon) -> None:
    with daemon.client() as everything, daemon.client() as asking:
        _, all_kinds = everything.stream("events.subscribe", {})  # as `deployctl events -f`
        _, samples = asking.stream("events.subscribe", {"kinds": ["host.sample"]})
        first, second = next(samples), next(samples)
        daemon.call("users.add", {"name": "marker", "role": "viewer"})
        kinds = [e["kind"] for e in until(all_kinds, "user.added", "marker")]
    assert "host.sample" not in kinds  # two samples went by meanwhile
    assert first["id"] == second["id"] == 0 and first["actor"] == "deployd"
    assert first["app"] is None and first["message"].startswith("cpu ")
    sample = HostSample.model_validate(first["data"])
    assert sample.memory_total == psutil.virtual_memory().total
    assert 0 < sample.memory_used < sample.memory_total
    assert 0 <= sample.cpu_percent <= 100 and sample.load1 >= 0
    assert 0 < sample.disk_percent <= 100
    assert sample.requests_per_s == sample.errors_per_s == 0  # no app has had a request
    stored = daemon.call("events.list", {"kinds": ["host"], "limit": 1000}).events  # type: ignore[attr-defined]
    assert "host.sample" not in [e.kind for e in stored]


def test_a_snapshot_carries_the_latest_host_sample(daemon: RunningDaemon) -> None:
    host = wait_for(lambda: daemon.call("system.snapshot").host)  # type: ignore[attr-defined]
    assert host.memory_total == psutil.virtual_memory().total


def test_an_unreachable_apps_server_leaves_the_snapshot_standing(
    pg_cluster: PrivateCluster,
) -> None:
    pg_cluster.ensure_database("snapshot_apps_down")
    state = pg_cluster.conninfo("snapshot_apps_down")
    closed = f"host=127.0.0.1 port={free_port()} user=deployd dbname=postgres"
    try:
        with serve(state, {"DEPLOYD_APPS_DATABASE_URL": closed}) as daemon:
            with psycopg.connect(state, autocommit=True) as conn:  # made while it answered
                conn.execute("INSERT INTO databases (name, password_token) VALUES ('orders', 'x')")
            snapshot: Any = daemon.call("system.snapshot")
            assert snapshot.status.database.state == "ok"
            assert [(d.name, d.reachable) for d in snapshot.databases] == [("orders", False)]
    finally:
        pg_cluster.drop_database("snapshot_apps_down")
