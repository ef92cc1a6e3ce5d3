"""`GET /events`: the daemon's events for the person logged in, as Server-Sent Events.

One `events.subscribe` over a connection that presented their token, from the id the
browser last saw (`Last-Event-ID` when it reconnects by itself, else `?after=` from the
page), so a dropped connection or a tab that slept misses nothing and repeats nothing.
Each stored event is sent with its `id:`; what it changes is sent after it: an app's new
badge (asked again with `apps.show`, as the TUI does), the host's figures.

How long a stream lasts and how it is kept alive: `streams`. Without a session the
answer is one `signed-out` event, which the page turns into a link to log in.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from deployctl.state import State
from deployd.protocol.apps import AppInfo, AppParams
from deployd.protocol.errors import RpcError
from deployd.protocol.events import Event, EventsSubscribeParams, EventType

from . import forms, streams, views
from .guard import Web, session_of, web
from .link import DaemonUnreachable, TokenRefused, UserConnection
from .sessions import Session

log = logging.getLogger("deployd.web.live")

FAMILIES = sorted({kind.split(".")[0] for kind in EventType})
"""Every family of events, `host` included (its samples reach only those who ask)."""


def resume_from(request: Request) -> int | None:
    """The last id the browser saw: its Last-Event-ID, else the page's `after`."""
    for raw in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if (found := forms.number(raw)) is not None:
            return found
    return None


def subscription(request: Request) -> EventsSubscribeParams:
    app = request.query_params.get("app")
    after = resume_from(request)
    try:
        if app:  # an app's page: its events (host samples are about no app)
            return EventsSubscribeParams(app=AppParams(name=app).name, after_id=after)
    except ValidationError:
        pass
    family = request.query_params.get("family")
    if family in FAMILIES and family != "host":  # a section's page: its family (`db`)
        return EventsSubscribeParams(kinds=[family], after_id=after)
    return EventsSubscribeParams(kinds=FAMILIES, after_id=after)


async def events(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return streams.once("signed-out", {"login": "/login"})
    here = web(request)
    params = subscription(request)

    async def frames(daemon: UserConnection, _: Any, bursts: streams.Bursts) -> AsyncIterator[str]:
        relay = Relay(here, session, State(role=daemon.identity.role))
        yield views.sse("live", {"user": daemon.identity.user})
        async for burst in bursts:
            if burst is None:
                yield streams.KEEPALIVE
                continue
            for item in burst:
                for frame in relay.frames(item):
                    yield frame
            for frame in await relay.apps_changed():  # each app changed is asked for once
                yield frame

    return streams.respond(
        streams.relay(here, session, "events.subscribe", params, frames, "an event stream")
    )


class Relay:
    """Events in, frames out; the apps they changed are asked for again once the burst is
    over (a deploy publishes a dozen events in a second: one `apps.show`, not twelve)."""

    def __init__(self, here: Web, session: Session, state: State) -> None:
        self.here = here
        self.session = session
        self.state = state
        self.changed: dict[str, bool] = {}
        """App → whether it must be asked again (else only its badge is sent again)."""

    def frames(self, item: dict[str, Any]) -> list[str]:
        try:
            event = Event.model_validate(item)
        except ValidationError:
            return []  # an event this version cannot read: the pages go without it
        change = self.state.apply(event)
        if change.host:
            return [views.sse("host", views.host_fields(self.state.host))]
        if not change.feed:
            return []
        frames = [views.sse("feed", views.feed_item(event), event.id)]
        if change.removed_app:
            self.changed.pop(change.removed_app, None)
            frames.append(views.sse("removed", {"name": change.removed_app}))
        for name, again in ((change.refetch_app, True), (change.badge_of, False)):
            if name:
                self.changed[name] = self.changed.get(name, False) or again
        return frames

    async def apps_changed(self) -> list[str]:
        changed, self.changed = self.changed, {}
        frames = []
        for name, again in changed.items():
            if again or name not in self.state.apps:
                await self._refetch(name)
            if name in self.state.apps:
                frames.append(views.sse("app", views.app_row(self.state, name)))
        return frames

    async def _refetch(self, name: str) -> None:
        """The app as it is now, on a connection of its own (the stream holds the first)."""
        try:
            async with self.here.link.as_user(self.session.token) as daemon:
                info = await daemon.call(AppInfo, "apps.show", AppParams(name=name))
        except (RpcError, TokenRefused, DaemonUnreachable, TimeoutError) as exc:
            log.info("%s could not be asked again: %s", name, exc)
            return
        self.state.apps[name] = info
