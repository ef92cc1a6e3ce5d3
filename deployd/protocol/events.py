"""`events.*`: what happened, stored and streamed.

A subscription is answered once (`EventsSubscribeResult`) and then receives one
`events.event` notification per event until the client closes the connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .common import EventKind, Params, Result

EVENT_NOTIFICATION = "events.event"


class Event(Result):
    id: int
    at: datetime
    kind: str
    app: str | None = None
    actor: str | None = None
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class EventsFilter(Params):
    kinds: list[EventKind] = Field(default_factory=list, max_length=32)
    """Prefixes: `user` matches `user.added` and `user.removed`."""
    app: str | None = None


class EventsListParams(EventsFilter):
    limit: int = Field(default=50, ge=1, le=1000)


class EventsListResult(Result):
    events: list[Event]


class EventsSubscribeParams(EventsFilter):
    after_id: int | None = None
    """Replay stored events newer than this id before streaming live ones."""


class EventsSubscribeResult(Result):
    subscribed: bool
    last_id: int


STREAM_ENDED_NOTIFICATION = "stream.ended"
"""Sent once when the daemon ends a stream (shutdown, or a subscriber that fell behind)."""


class StreamEnded(Result):
    reason: str
    kind: str = "unavailable"
    """`complete` when the stream has said all it had to say; an error kind otherwise."""
