"""A deploy's progress worked out from its `deploy.*` events: its steps (each with its
state and how long it took), its build output, its outcome. Pure, no I/O: the page draws
it from the stored events, the live stream from the daemon's `deploys.watch`, and both
send the same rows, so a step drawn by the browser looks like one drawn by the server.

`deploys.watch` replays the job's stored events from the start at every (re)connection;
an event seen once is not applied again, and the rows are sent whole, so a replay
changes nothing on the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployd.protocol.events import Event, EventType

from . import views
from .loglines import bounded

OUTPUT_KEPT = 500
"""The build output lines a page holds (the build log keeps them all)."""


@dataclass
class Step:
    name: str
    message: str
    at: datetime
    ended: datetime | None = None
    state: str = "running"

    def row(self) -> dict[str, Any]:
        took = (self.ended - self.at).total_seconds() if self.ended else None
        return {
            "name": self.name,
            "message": self.message,
            "state": self.state,
            "at": self.at.isoformat(),
            "time": views.clock(self.at),
            "took": f"{took:.1f} s" if took is not None else "",
        }


@dataclass
class Progress:
    """One job's steps so far, from its events in the order they came."""

    job: int
    steps: list[Step] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    outcome: str | None = None
    """`succeeded` or `failed` once the job is over."""
    message: str = ""
    """What its last event said: the failure's reason, or that it is live."""
    seen: set[int] = field(default_factory=set)

    def apply(self, event: Event) -> str | None:
        """Take one event; says what changed: `steps`, `output`, `outcome`, or None."""
        if event.data.get("job") != self.job:
            return None
        if event.id:
            if event.id in self.seen:
                return None  # replayed after a reconnection
            self.seen.add(event.id)
        kind = event.type
        if kind is EventType.DEPLOY_OUTPUT:
            return self._line(event.message)
        if kind in (EventType.DEPLOY_WARNING, EventType.DEPLOY_CONFIG):
            return self._line(f"! {event.message}")
        if kind is EventType.DEPLOY_STEP:
            self._close(event.at, "done")
            self.steps.append(Step(str(event.data.get("step") or "step"), event.message, event.at))
            return "steps"
        if kind is EventType.DEPLOY_LIVE:
            self._close(event.at, "done")
            self.steps.append(Step("live", event.message, event.at, None, "done"))  # a moment
            return "steps"
        if kind in (EventType.DEPLOY_SUCCEEDED, EventType.DEPLOY_FAILED):
            failed = kind is EventType.DEPLOY_FAILED
            self._close(event.at, "failed" if failed else "done")
            self.outcome = "failed" if failed else "succeeded"
            self.message = event.message
            return "outcome"
        return None

    def _line(self, line: str) -> str:
        self.output.append(bounded(line))
        del self.output[:-OUTPUT_KEPT]
        return "output"

    def _close(self, at: datetime, state: str) -> None:
        if self.steps and self.steps[-1].state == "running":
            self.steps[-1].ended = at
            self.steps[-1].state = state

    def rows(self) -> list[dict[str, Any]]:
        return [step.row() for step in self.steps]

    def failed_step(self) -> str | None:
        failed = [s.name for s in self.steps if s.state == "failed"]
        return failed[-1] if failed else None


def progress_of(job: int, events: list[Event]) -> Progress:
    """The progress the stored events tell (oldest first); build output is not stored."""
    progress = Progress(job)
    for event in events:
        progress.apply(event)
    return progress
