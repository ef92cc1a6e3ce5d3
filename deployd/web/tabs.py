"""What the header of an app's tab pages (Logs, Analytics, ...) shows: its name and badge,
worked out as the overview page does (its recent events carry the marks a badge needs,
such as a crash loop)."""

from __future__ import annotations

import asyncio
from typing import Any

from deployctl.state import State
from deployd.protocol.apps import AppInfo, AppParams
from deployd.protocol.events import EventsListParams, EventsListResult

from . import views
from .guard import Visit

RECENT_EVENTS = 30


async def app_header(visit: Visit, name: str) -> dict[str, Any]:
    """`app` and `row` (its badge) for the `app_header` macro."""
    info, recent = await asyncio.gather(
        visit.daemon.call(AppInfo, "apps.show", AppParams(name=name)),
        visit.daemon.call(
            EventsListResult, "events.list", EventsListParams(app=name, limit=RECENT_EVENTS)
        ),
    )
    state = State(role=visit.daemon.identity.role, apps={name: info})
    for event in recent.events:
        state.apply(event)
    return {"app": info, "row": views.app_row(state, name)}
