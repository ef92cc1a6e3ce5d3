"""Events are stored, listed, streamed live, filtered and replayed."""

from __future__ import annotations

import subprocess

from deployd.engine.events import TRANSIENT_ROOM, EventFilter
from deployd.engine.platform import Platform
from deployd.protocol.events import EventType
from deployd.store.cluster import PrivateCluster
from tests.support.daemon import BIN, RunningDaemon
from tests.support.databases import run_staged
from tests.support.waiting import wait_for


def test_subscribers_receive_events_as_they_happen(daemon: RunningDaemon) -> None:
    with daemon.client() as client:
        first, stream = client.stream("events.subscribe", {"kinds": ["user"]})
        assert first.subscribed
        daemon.call("tokens.create", {"name": "admin"})  # token.*: filtered out
        daemon.call("users.add", {"name": "streamed", "role": "viewer"})
        event = next(stream)
    assert event["kind"] == "user.added"
    assert event["actor"] == "admin"
    assert event["data"] == {"user": "streamed", "role": "viewer"}
    assert event["id"] > first.last_id


def test_replay_after_an_id_then_live(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "replay1", "role": "viewer"})
    listed = daemon.call("events.list", {"kinds": ["user.added"], "limit": 1}).events  # type: ignore[attr-defined]
    mark = listed[0].id
    daemon.call("users.add", {"name": "replay2", "role": "viewer"})
    with daemon.client() as client:
        _, stream = client.stream("events.subscribe", {"kinds": ["user"], "after_id": mark - 1})
        assert next(stream)["data"]["user"] == "replay1"
        assert next(stream)["data"]["user"] == "replay2"
        daemon.call("users.add", {"name": "replay3", "role": "viewer"})
        assert next(stream)["data"]["user"] == "replay3"


def test_kind_filters_match_whole_dotted_segments(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "segments", "role": "viewer"})
    kinds = {e.kind for e in daemon.call("events.list", {"kinds": ["user"]}).events}  # type: ignore[attr-defined]
    assert kinds and all(k.startswith("user.") for k in kinds)
    assert daemon.call("events.list", {"kinds": ["use"]}).events == []  # type: ignore[attr-defined]


def test_deployctl_events_follow_streams_json_lines(daemon: RunningDaemon) -> None:
    follower = subprocess.Popen(
        [
            str(BIN / "deployctl"),
            "--socket",
            str(daemon.socket),
            "events",
            "-f",
            "--json",
            "--kind",
            "user.removed",
            "--limit",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: daemon.call("system.status").connections >= 2)  # type: ignore[attr-defined]
        daemon.call("users.add", {"name": "followed", "role": "viewer"})
        daemon.call("users.remove", {"name": "followed"})
        assert follower.stdout is not None
        line = follower.stdout.readline()
        while '"followed"' not in line:
            line = follower.stdout.readline()
        assert '"kind":"user.removed"' in line
    finally:
        follower.terminate()
        follower.wait(10)


async def a_slow_reader(platform: Platform) -> None:
    """A dashboard that watches a deploy's output and the host, and has fallen behind."""
    bus = platform.bus
    _, events = await bus.stream(EventFilter(kinds=("deploy", "host")), after_id=None)
    for n in range(TRANSIENT_ROOM):
        await bus.publish(EventType.DEPLOY_OUTPUT, f"line {n}", data={"job": 7})
    for _ in range(3):
        await bus.publish(EventType.HOST_SAMPLE, "cpu 1 %", actor="deployd")
    for n in range(2):
        await bus.publish(EventType.DEPLOY_OUTPUT, f"late {n}", data={"job": 7})
    await bus.publish(EventType.DEPLOY_FAILED, "it failed", data={"job": 7})
    read = []
    async for event in events:
        read.append(event)
        if event["kind"] == EventType.DEPLOY_FAILED:
            break
    await events.aclose()  # type: ignore[attr-defined]
    notes = [e["message"] for e in read if "skipped" in e["message"]]
    assert notes == [
        "[deployd: 2 lines skipped for this slow reader; the build log keeps them]"
    ]  # the samples it missed are not build lines: the next sample replaces them
    assert [e["kind"] for e in read].count("host.sample") == 0
    assert len(read) == TRANSIENT_ROOM + 2 and read[-1]["id"] > 0


def test_a_slow_reader_skips_transient_events_and_is_told_only_of_build_lines(
    fresh_db: str, apps_pg: PrivateCluster
) -> None:
    run_staged(fresh_db, apps_pg, a_slow_reader)
