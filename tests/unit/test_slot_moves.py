"""The engine moving slots, driven with a recording fake of the world it touches (the
processes, the store, the event bus): what it does, and in which order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from deployd.domain.slots import Slot, SlotEvent, SlotState
from deployd.engine.slots import StaleSlot, move, settle
from deployd.runtime.base import Handle
from deployd.store.db import Row

S, E = SlotState, SlotEvent


class RecordingWorld:
    """Records every call; `save` answers as a store whose row may have moved on."""

    def __init__(self, *, moved_on: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.moved_on = moved_on

    async def stop_processes(self, row: Row, timeout: float) -> None:
        self.calls.append(("stop", row["state"], timeout))

    async def save(self, app: str, row: Row, slot: Slot, handle: Handle | None) -> bool:
        self.calls.append(("save", slot.state, handle.pid if handle else None))
        return not self.moved_on

    async def announce(self, app: str, slot: Slot, release: int | None) -> None:
        self.calls.append(("announce", f"slot.{slot.state.value}", release))


def slot_row(state: SlotState, pid: int | None = 4321) -> Row:
    return {
        "app": "shop",
        "name": "blue",
        "port": 20001,
        "state": state.value,
        "release_id": 17,
        "release": 3,
        "pid": pid,
        "pid_started_at": 1.5 if pid else None,
        "changed_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


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
    assert row["state"] == "stopped" and row["pid"] is None


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
    assert row["pid"] == 4321


def test_a_slot_another_actor_moved_is_not_announced() -> None:
    world = RecordingWorld(moved_on=True)
    with pytest.raises(StaleSlot):
        asyncio.run(move(world, "shop", slot_row(S.STARTING), E.PASSED))
    assert [c[0] for c in world.calls] == ["save"]
