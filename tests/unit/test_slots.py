"""The slot state machine, walked over every state and event pair."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployd.domain.lifecycle import ProcessState, process_state
from deployd.domain.slots import (
    RUNNING,
    TRANSITIONS,
    Effect,
    IllegalTransition,
    Slot,
    SlotEvent,
    SlotState,
    next_state,
    other,
    step,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
S, E = SlotState, SlotEvent

EXPECTED = {
    (S.EMPTY, E.START): S.STARTING,
    (S.STOPPED, E.START): S.STARTING,
    (S.FAILED, E.START): S.STARTING,
    (S.STARTING, E.PASSED): S.HEALTHY,
    (S.STARTING, E.FAILED): S.FAILED,
    (S.HEALTHY, E.PROMOTE): S.LIVE,
    (S.HEALTHY, E.ABORT): S.STOPPED,
    (S.LIVE, E.DRAIN): S.DRAINING,
    (S.LIVE, E.CRASH): S.CRASHED,
    (S.DRAINING, E.STOPPED): S.STOPPED,
    (S.CRASHED, E.RESTART): S.STARTING,
    (S.CRASHED, E.ABORT): S.STOPPED,
    (S.LIVE, E.SUSPEND): S.SUSPENDED,
    (S.SUSPENDED, E.RESUME): S.STARTING,
    (S.SUSPENDED, E.ABORT): S.STOPPED,
}


@pytest.mark.parametrize("state", list(SlotState))
@pytest.mark.parametrize("event", list(SlotEvent))
def test_every_pair(state: SlotState, event: SlotEvent) -> None:
    if (state, event) in EXPECTED:
        assert next_state(state, event) is EXPECTED[(state, event)]
    else:
        with pytest.raises(IllegalTransition):
            next_state(state, event)


def test_the_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED


def test_every_state_is_reachable_from_empty_and_none_is_a_dead_end() -> None:
    reachable, frontier = {S.EMPTY}, [S.EMPTY]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(SlotState)
    for state in SlotState:
        assert any(source is state for source, _ in TRANSITIONS), f"{state} is a dead end"


def test_a_deploy_and_a_crash_restart_walk_through_the_table() -> None:
    slot = Slot("blue", 20000)
    slot, effects = step(slot, E.START, NOW, release_id=7)
    assert (slot.state, slot.release_id, slot.changed_at) == (S.STARTING, 7, NOW)
    assert effects == (Effect.START_PROCESSES,)
    for event in (E.PASSED, E.PROMOTE, E.CRASH, E.RESTART, E.PASSED, E.PROMOTE, E.DRAIN, E.STOPPED):
        slot, effects = step(slot, event, NOW)
    assert slot.state is S.STOPPED and slot.release_id == 7
    assert effects == (Effect.STOP_PROCESSES, Effect.FORGET_HANDLE)


@pytest.mark.parametrize(("move", "target"), list(TRANSITIONS.items()))
def test_every_step_out_of_the_running_states_stops_what_runs(
    move: tuple[SlotState, SlotEvent], target: SlotState
) -> None:
    """A slot is never recorded as stopped, failed, crashed or suspended with its
    processes left to run: the step itself says to stop them."""
    state, event = move
    _, effects = step(Slot("blue", 1, state, release_id=3), event, NOW, release_id=3)
    stops = Effect.STOP_PROCESSES in effects and Effect.FORGET_HANDLE in effects
    assert stops is (target not in RUNNING), (state, event, effects)
    starts = Effect.START_PROCESSES in effects
    assert starts is (target is S.STARTING), (state, event, effects)


def test_start_needs_a_release() -> None:
    with pytest.raises(ValueError):
        step(Slot("blue", 1), E.START, NOW)


def test_running_states_are_those_with_a_process() -> None:
    assert {S.STARTING, S.HEALTHY, S.LIVE, S.DRAINING} == RUNNING


def test_other_slot() -> None:
    assert other("blue") == "green" and other("green") == "blue"


def test_a_process_is_up_only_running_in_the_live_slot() -> None:
    assert process_state(True, S.LIVE) is ProcessState.UP
    assert process_state(False, S.LIVE) is ProcessState.CRASHED
    assert process_state(True, S.DRAINING) is ProcessState.DRAINING
    for state in (S.SUSPENDED, S.STOPPED, S.FAILED, S.CRASHED, S.EMPTY):
        assert process_state(True, state) is ProcessState.STOPPING
