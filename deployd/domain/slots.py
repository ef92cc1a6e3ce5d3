"""The slot state machine of ARCHITECTURE.md §2, as a table and nothing else.

Every app has two slots, blue and green. A deploy always lands in the one that is not
live. The table says which event moves a slot from which state to which; anything not in
it is illegal and raises, so a bug in the engine cannot put a slot in a state that the
reconciler does not understand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class SlotState(StrEnum):
    EMPTY = "empty"
    STARTING = "starting"
    HEALTHY = "healthy"
    LIVE = "live"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"
    CRASHED = "crashed"
    SUSPENDED = "suspended"
    """Live, with its process stopped on purpose to be started again (`deployd dev`
    stopping): no crash, and no other slot takes over."""


class SlotEvent(StrEnum):
    START = "start"
    """A release was started in the slot."""
    PASSED = "passed"
    """The health check passed N times in a row."""
    FAILED = "failed"
    """The health check did not pass within its timeout, or the process exited."""
    PROMOTE = "promote"
    """nginx now sends traffic here."""
    ABORT = "abort"
    """A slot given up on: healthy but not going live (the switch failed, the deploy was
    aborted), or crashed and replaced by a rollback."""
    DRAIN = "drain"
    """Traffic moved to the other slot; in-flight requests finish."""
    STOPPED = "stopped"
    """The process is gone after a stop."""
    CRASH = "crash"
    """The live process exited on its own."""
    RESTART = "restart"
    """A crashed slot's release is started again."""
    SUSPEND = "suspend"
    """The daemon stops the live process on purpose, to start it again later."""
    RESUME = "resume"
    """A suspended slot's release is started again."""


S, E = SlotState, SlotEvent
TRANSITIONS: dict[tuple[SlotState, SlotEvent], SlotState] = {
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

RUNNING = frozenset({S.STARTING, S.HEALTHY, S.LIVE, S.DRAINING})
"""States in which the slot's process should exist."""


class IllegalTransition(ValueError):
    def __init__(self, state: SlotState, event: SlotEvent) -> None:
        super().__init__(f"a slot that is {state.value} cannot take the event {event.value!r}")
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    port: int
    state: SlotState = SlotState.EMPTY
    release_id: int | None = None
    changed_at: datetime | None = None


def next_state(state: SlotState, event: SlotEvent) -> SlotState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


class Effect(StrEnum):
    """What must happen in the world for a step to be true, decided here and carried out by
    the engine (`engine/slots.move`), before the new state is recorded."""

    STOP_PROCESSES = "stop processes"
    """Nothing of the slot may run in the new state: stop whatever still does (the slot's
    processes, or what a crashed one left behind)."""
    FORGET_HANDLE = "forget handle"
    """The slot keeps no process handle in the new state."""
    START_PROCESSES = "start processes"
    """The slot's release must run: its processes are started, and the state recorded with
    their handle (should starting fail, what did start is stopped and nothing recorded)."""


def effects_of(state: SlotState) -> tuple[Effect, ...]:
    """Every state the table leads to outside RUNNING is one with nothing running, and the
    only way into STARTING is to start the release."""
    if state is SlotState.STARTING:
        return (Effect.START_PROCESSES,)
    return () if state in RUNNING else (Effect.STOP_PROCESSES, Effect.FORGET_HANDLE)


def step(
    slot: Slot, event: SlotEvent, now: datetime, release_id: int | None = None
) -> tuple[Slot, tuple[Effect, ...]]:
    """The slot after `event`, and what must be done for it. START names the release it
    starts; other events keep it."""
    state = next_state(slot.state, event)
    effects = effects_of(state)
    if event is SlotEvent.START:
        if release_id is None:
            raise ValueError("starting a slot needs a release")
        return replace(slot, state=state, release_id=release_id, changed_at=now), effects
    return replace(slot, state=state, changed_at=now), effects


SLOT_NAMES = ("blue", "green")


def other(name: str) -> str:
    return SLOT_NAMES[1] if name == SLOT_NAMES[0] else SLOT_NAMES[0]
