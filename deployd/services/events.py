"""`events.*`: the stored history and the live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from deployd.engine.events import EventFilter, SubscriberTooSlow
from deployd.protocol.errors import unavailable
from deployd.protocol.events import (
    Event,
    EventsListParams,
    EventsListResult,
    EventsSubscribeParams,
    EventsSubscribeResult,
    EventType,
)
from deployd.store import events as store
from deployd.store.db import Row

from .core import Caller, Core


async def list_events(core: Core, caller: Caller, params: EventsListParams) -> EventsListResult:
    async with core.pool.connection() as conn:
        rows = await store.newest(conn, kinds=params.kinds, app=params.app, limit=params.limit)
    return EventsListResult(events=[Event.model_validate(r) for r in rows])


async def subscribe(
    core: Core, caller: Caller, params: EventsSubscribeParams
) -> tuple[EventsSubscribeResult, AsyncIterator[Event]]:
    event_filter = EventFilter(kinds=tuple(params.kinds), app=params.app)
    last_id, rows = await core.bus.stream(event_filter, params.after_id)
    return EventsSubscribeResult(subscribed=True, last_id=last_id), relay(core, rows)


async def relay(
    core: Core, rows: AsyncIterator[Row], until: tuple[EventType, ...] = ()
) -> AsyncIterator[Event]:
    """Events as protocol models, until one of the kinds in `until` passes by. Ends with
    an error the client can act on when the bus cuts the stream off."""
    try:
        async for row in rows:
            yield Event.model_validate(row)
            if row["kind"] in until:
                return
    except SubscriberTooSlow:
        raise unavailable("you fell too far behind; subscribe again with after_id") from None
    if core.bus.closed:
        raise unavailable("the daemon is shutting down")
