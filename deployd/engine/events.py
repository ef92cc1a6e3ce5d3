"""The event bus: every event is stored first, then handed to live subscribers.

Subscribers get a bounded queue. One that falls too far behind is cut off (its stream ends
with an error it can act on: reconnect with `after_id`) rather than letting memory grow or
slowing the publishers down. Transient events (build output lines, which the build log
keeps; host samples, which the next one replaces) may fill only part of the queue: past
that a slow subscriber skips them (and is told how many build lines it missed), so a
chatty build never cuts a `deployctl deploy` off from its own outcome.
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

from deployd.protocol.events import EventType
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


ASKED_FOR_ONLY = frozenset({EventType.HOST_SAMPLE})
"""Kinds a subscriber gets only when its filter names them (or a prefix of them, such as
`host`): a sample every ten seconds would drown `deployctl events -f`, and clients that
predate them would print them."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    kinds: tuple[str, ...] = ()
    """Prefixes: `deploy` matches `deploy.failed`. Empty: every kind but `ASKED_FOR_ONLY`."""
    app: str | None = None
    job: int | None = None

    def matches(self, event: Row) -> bool:
        """`host.sample` passes only a filter whose kinds include `host.sample` or `host`."""
        if self.app is not None and event["app"] != self.app:
            return False
        if self.job is not None and event["data"].get("job") != self.job:
            return False
        kind = event["kind"]
        if not self.kinds:
            return kind not in ASKED_FOR_ONLY
        return any(kind == k or kind.startswith(k + ".") for k in self.kinds)


@dataclass(eq=False)
class Subscription:
    filter: EventFilter
    queue: asyncio.Queue[Row | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False
    skipped: int = 0
    """Build output lines not queued since the subscriber last caught up."""


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
        kind: EventType,
        message: str,
        *,
        app: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Row:
        """Store the event, then hand it out. Transient kinds (build output lines, host
        samples) are only handed out, with id 0: the vocabulary says which, so a caller
        cannot fill the event table with them. Secrets of the app's config are masked
        first, in the message and anywhere in the data."""
        masker = self.masks.for_app(app)
        if masker:
            message = masker.mask(message)
            data = masker.mask_data(data) if data else data  # type: ignore[assignment]
        if kind.transient:
            event = _transient(kind, message, app, actor, data or {})
        else:
            async with self._pool.connection() as conn:
                event = await store.insert(
                    conn, kind=kind.value, message=message, app=app, actor=actor, data=data or {}
                )
        self._fan_out(event)
        return event

    def _fan_out(self, event: Row) -> None:
        for sub in list(self._subscriptions):
            if not sub.filter.matches(event):
                continue
            if event["id"] == 0 and sub.queue.qsize() >= TRANSIENT_ROOM:
                if event["kind"] == EventType.DEPLOY_OUTPUT:
                    sub.skipped += 1  # a missed sample is replaced by the next: not said
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
                if sub.skipped and event["kind"] == EventType.DEPLOY_OUTPUT:
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


def _transient(
    kind: EventType, message: str, app: str | None, actor: str | None, data: dict[str, Any]
) -> Row:
    """A row shaped like a stored one, with id 0: subscribers tell the two apart by it."""
    return {
        "id": 0,
        "at": datetime.now(UTC),
        "kind": kind.value,
        "app": app,
        "actor": actor,
        "message": message,
        "data": data,
    }
