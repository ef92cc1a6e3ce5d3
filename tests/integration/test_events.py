"""Events are stored, listed, streamed live, filtered and replayed."""

from __future__ import annotations

import subprocess

from tests.support.daemon import BIN, RunningDaemon
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
