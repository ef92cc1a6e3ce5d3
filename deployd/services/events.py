"""`events.*`: the stored history and the live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from deployd.engine.events import EventFilter
from deployd.protocol.events import (
    Event,
    EventsListParams,
    EventsListResult,
    EventsSubscribeParams,
    EventsSubscribeResult,
)
from deployd.store import events as store

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

    async def events() -> AsyncIterator[Event]:
        async for row in rows:
            yield Event.model_validate(row)

    return EventsSubscribeResult(subscribed=True, last_id=last_id), events()
