"""`system.snapshot`: what a dashboard shows at its start, from the services that answer
each part on its own (`system.status`, `apps.list`, `events.list`, `stats.show`,
`databases.list`), so the snapshot never says something those would not."""

from __future__ import annotations

import asyncio
import logging

import psycopg

from deployd.postgres.server import ServerUnavailable
from deployd.protocol.databases import DbInfo
from deployd.protocol.errors import RpcError
from deployd.protocol.events import EventsListParams
from deployd.protocol.snapshot import SnapshotResult
from deployd.protocol.stats import StatsParams

from . import apps, databases, events, stats, system
from .core import Caller, Core

log = logging.getLogger(__name__)

EVENTS = 100
TRAFFIC_SINCE = "1h"


async def take(core: Core, caller: Caller) -> SnapshotResult:
    """The events end at `last_event_id`: a subscription with that `after_id` goes on
    exactly where they stop, so a dashboard neither misses nor repeats one. They are read
    first: what happens after that is replayed to the subscriber, so an app created while
    the rest is read is seen one way or the other, never lost between the two."""
    recent = await events.list_events(core, caller, EventsListParams(limit=EVENTS))
    status, listed, traffic, dbs = await asyncio.gather(
        system.status(core, caller),
        apps.list_apps(core, caller),
        stats.show(core, caller, StatsParams(since=TRAFFIC_SINCE)),
        _databases(core, caller),
    )
    newest_first = recent.events[::-1]
    return SnapshotResult(
        status=status,
        apps=listed.apps,
        events=newest_first,
        last_event_id=newest_first[0].id if newest_first else 0,
        host=core.platform.readings.host,
        traffic=traffic.apps,
        traffic_series=traffic.series,
        databases=dbs,
    )


async def _databases(core: Core, caller: Caller) -> list[DbInfo]:
    """The apps' PostgreSQL being down must not take the whole dashboard with it."""
    try:
        return (await databases.list_databases(core, caller)).databases
    except (RpcError, ServerUnavailable, psycopg.Error) as exc:
        log.warning("the snapshot shows no databases: %s", exc)
        return []
