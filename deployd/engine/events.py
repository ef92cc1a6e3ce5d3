"""The event bus: every event is stored first, then handed to live subscribers.

Subscribers get a bounded queue. One that falls too far behind is cut off (its stream ends
with an error it can act on: reconnect with `after_id`) rather than letting memory grow or
slowing the publishers down. Transient events (build output lines, which the build log
keeps) may fill only part of the queue: past that a slow subscriber skips them and is told
how many, so a chatty build never cuts a `deployctl deploy` off from its own outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from deployd.store import events as store
from deployd.store.db import Row

from .masks import Masks

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
TRANSIENT_ROOM = 800
"""Transient events beyond this many queued are skipped (and counted), not queued."""
REPLAY_LIMIT = 10_000


class SubscriberTooSlow(Exception):
    pass


@dataclass(frozen=True, slots=True)
class EventFilter:
    kinds: tuple[str, ...] = ()
    app: str | None = None
    job: int | None = None

    def matches(self, event: Row) -> bool:
        if self.app is not None and event["app"] != self.app:
            return False
        if self.job is not None and event["data"].get("job") != self.job:
            return False
        kind = event["kind"]
        return not self.kinds or any(kind == k or kind.startswith(k + ".") for k in self.kinds)


@dataclass(eq=False)
class Subscription:
    filter: EventFilter
    queue: asyncio.Queue[Row | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False
    skipped: int = 0
    """Transient events not queued since the subscriber last caught up."""


class EventBus:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Row]], masks: Masks) -> None:
        self._pool = pool
        self.masks = masks
        self._subscriptions: set[Subscription] = set()
        self.closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def publish(
        self,
        kind: str,
        message: str,
        *,
        app: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
        persist: bool = True,
    ) -> Row:
        """Store the event, then hand it out. Transient ones (build output lines) are only
        handed out, with id 0: they are kept in log files, not in the event table. Secrets
        of the app's config are masked first, in the message and anywhere in the data."""
        masker = self.masks.for_app(app)
        if masker:
            message = masker.mask(message)
            data = masker.mask_data(data) if data else data  # type: ignore[assignment]
        if persist:
            async with self._pool.connection() as conn:
                event = await store.insert(
                    conn, kind=kind, message=message, app=app, actor=actor, data=data or {}
                )
        else:
            event = {
                "id": 0,
                "at": datetime.now(UTC),
                "kind": kind,
                "app": app,
                "actor": actor,
                "message": message,
                "data": data or {},
            }
        self._fan_out(event)
        return event

    def _fan_out(self, event: Row) -> None:
        for sub in list(self._subscriptions):
            if not sub.filter.matches(event):
                continue
            if event["id"] == 0 and sub.queue.qsize() >= TRANSIENT_ROOM:
                sub.skipped += 1
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subscriptions.discard(sub)
                log.warning("dropped an event subscriber that fell %d events behind", QUEUE_SIZE)

    async def stream(
        self, event_filter: EventFilter, after_id: int | None
    ) -> tuple[int, AsyncIterator[Row]]:
        """Register now (so nothing is missed), then yield replayed and live events in order.

        Returns the newest stored id at subscription time and the iterator.
        """
        sub = Subscription(event_filter)
        self._subscriptions.add(sub)
        async with self._pool.connection() as conn:
            last_id = await store.last_id(conn)
            replay: list[Row] = []
            if after_id is not None:
                replay = await store.after(
                    conn,
                    kinds=list(event_filter.kinds),
                    app=event_filter.app,
                    job=event_filter.job,
                    after_id=after_id,
                    limit=REPLAY_LIMIT,
                )
        return last_id, self._iterate(sub, replay)

    async def _iterate(self, sub: Subscription, replay: list[Row]) -> AsyncIterator[Row]:
        seen = 0
        try:
            for event in replay:
                seen = event["id"]
                yield event
            while True:
                if sub.overflowed and sub.queue.empty():
                    raise SubscriberTooSlow
                queued = await sub.queue.get()
                if queued is None:
                    return
                event = queued
                if sub.skipped and event["id"] == 0:
                    note: Row = {
                        **event,
                        "message": f"[deployd: {sub.skipped} lines skipped for this slow "
                        "reader; the build log keeps them]",
                    }
                    yield note
                    sub.skipped = 0
                if event["id"] == 0 or event["id"] > seen:
                    yield event
        finally:
            self._subscriptions.discard(sub)

    def close(self) -> None:
        """End every live stream (daemon shutdown): each ends with SubscriberTooSlow's
        sibling, a clean end, which the server reports as the daemon shutting down."""
        self.closed = True
        for sub in list(self._subscriptions):
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                sub.overflowed = True
        self._subscriptions.clear()
