"""The engine moving slots, driven with a recording fake of the world it touches (the
processes, the store, the event bus): what it does, and in which order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deployd.domain.formation import ProcessName
from deployd.domain.lifecycle import ReleaseStatus
from deployd.domain.manifest import Manifest
from deployd.domain.slots import Slot, SlotEvent, SlotState
from deployd.engine.slots import Launch, StaleSlot, Started, move, settle, start
from deployd.runtime.base import Handle, StartError
from deployd.store.apps import SlotRow
from deployd.store.releases import ReleaseRow

S, E = SlotState, SlotEvent


class RecordingWorld:
    """Records every call; `save` answers as a store whose row may have moved on."""

    def __init__(self, *, moved_on: bool = False, start_fails: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.moved_on = moved_on
        self.start_fails = start_fails

    async def stop_processes(self, row: SlotRow, timeout: float) -> None:
        self.calls.append(("stop", row.state, timeout))

    async def save(self, app: str, row: SlotRow, slot: Slot, handle: Handle | None) -> bool:
        self.calls.append(("save", slot.state, handle.pid if handle else None))
        return not self.moved_on

    async def announce(self, app: str, slot: Slot, release: int | None) -> None:
        self.calls.append(("announce", f"slot.{slot.state.value}", release))

    async def start_processes(
        self, row: SlotRow, release: ReleaseRow, plan: Launch
    ) -> list[Started]:
        self.calls.append(("start", release.version, plan.counted))
        if self.start_fails:
            raise StartError("port 20001 of web.1 in the blue slot is taken by pid 99")
        return [
            Started(ProcessName("web", 1), Handle(5001, 2.5), 20001),
            Started(ProcessName("worker", 1), Handle(5002, 2.5), None),
        ]


def slot_row(state: SlotState, pid: int | None = 4321) -> SlotRow:
    return SlotRow(
        app="shop",
        name="blue",
        port=20001,
        state=state,
        release_id=17,
        release=3,
        pid=pid,
        pid_started_at=1.5 if pid else None,
        changed_at=datetime(2026, 1, 1, tzinfo=UTC),
        restarts=0,
        next_restart_at=None,
        last_exit=None,
        health_failures=0,
        runtime="process",
    )


def test_bringing_a_live_slot_to_rest_drains_then_stops_before_it_says_stopped() -> None:
    world = RecordingWorld()
    row = asyncio.run(settle(world, "shop", slot_row(S.LIVE), timeout=7))
    assert world.calls == [
        ("save", S.DRAINING, 4321),  # drained first: its end is no crash
        ("announce", "slot.draining", 3),
        ("stop", "draining", 7),  # stopped before "stopped" is recorded
        ("save", S.STOPPED, None),
        ("announce", "slot.stopped", 3),
    ]
    assert row.state is S.STOPPED and row.pid is None


@pytest.mark.parametrize(
    ("state", "then"),
    [
        (S.STARTING, S.FAILED),
        (S.HEALTHY, S.STOPPED),
        (S.CRASHED, S.STOPPED),
        (S.SUSPENDED, S.STOPPED),
    ],
)
def test_every_state_with_something_left_is_stopped_once(state: SlotState, then: SlotState) -> None:
    world = RecordingWorld()
    asyncio.run(settle(world, "shop", slot_row(state), timeout=5))
    assert [c[0] for c in world.calls] == ["stop", "save", "announce"]
    assert world.calls[1] == ("save", then, None)


@pytest.mark.parametrize("state", [S.EMPTY, S.STOPPED, S.FAILED])
def test_a_slot_at_rest_is_left_alone(state: SlotState) -> None:
    world = RecordingWorld()
    asyncio.run(settle(world, "shop", slot_row(state, pid=None)))
    assert world.calls == []


def test_a_passing_slot_keeps_its_process_and_stops_nothing() -> None:
    world = RecordingWorld()
    row = asyncio.run(move(world, "shop", slot_row(S.STARTING), E.PASSED))
    assert world.calls == [("save", S.HEALTHY, 4321), ("announce", "slot.healthy", 3)]
    assert row.pid == 4321


def test_a_slot_another_actor_moved_is_not_announced() -> None:
    world = RecordingWorld(moved_on=True)
    with pytest.raises(StaleSlot):
        asyncio.run(move(world, "shop", slot_row(S.STARTING), E.PASSED))
    assert [c[0] for c in world.calls] == ["save"]


def release_row(version: int = 4) -> ReleaseRow:
    return ReleaseRow(
        id=18,
        version=version,
        app="shop",
        commit="abc",
        ref="main",
        build_key="abc-1",
        manifest=None,
        status=ReleaseStatus.BUILT,
        error=None,
        created_by="ann",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        live_at=None,
        env_version=None,
        runtime="docker",
        failed_step=None,
    )


PLAN = Launch(
    Manifest({"web": "gunicorn app:app", "worker": "celery"}),
    Path("/srv/build"),
    {"web": 1, "worker": 1},
)


def test_starting_a_release_records_the_slot_only_once_its_processes_run() -> None:
    world = RecordingWorld()
    row, started = asyncio.run(
        start(world, "shop", slot_row(S.STOPPED, pid=None), E.START, release_row(), PLAN)
    )
    assert world.calls == [
        ("start", 4, {"web": 1, "worker": 1}),
        ("save", S.STARTING, 5001),  # with web.1's handle
        ("announce", "slot.starting", 4),
    ]
    assert (row.state, row.release_id, row.release, row.pid) == (S.STARTING, 18, 4, 5001)
    assert row.runtime == "docker"  # what stops it later must know how it was started
    assert [str(s.name) for s in started] == ["web.1", "worker.1"]


def test_a_release_that_cannot_start_leaves_the_slot_as_it_was_and_nothing_running() -> None:
    world = RecordingWorld(start_fails=True)
    with pytest.raises(StartError):
        asyncio.run(
            start(
                world, "shop", slot_row(S.FAILED, pid=None), E.START, release_row(), PLAN, timeout=3
            )
        )
    assert world.calls == [("start", 4, {"web": 1, "worker": 1}), ("stop", S.FAILED, 3)]


def test_a_crashed_slot_is_restarted_with_its_release_and_a_suspended_one_resumed() -> None:
    for state, event in ((S.CRASHED, E.RESTART), (S.SUSPENDED, E.RESUME)):
        world = RecordingWorld()
        row, _ = asyncio.run(start(world, "shop", slot_row(state), event, release_row(3), PLAN))
        assert row.state is S.STARTING and [c[0] for c in world.calls] == [
            "start",
            "save",
            "announce",
        ]


def test_moves_that_start_nothing_cannot_go_through_start_and_back() -> None:
    with pytest.raises(ValueError):
        asyncio.run(
            start(RecordingWorld(), "shop", slot_row(S.STARTING), E.PASSED, release_row(), PLAN)
        )
    with pytest.raises(ValueError):
        asyncio.run(move(RecordingWorld(), "shop", slot_row(S.STOPPED), E.START))
