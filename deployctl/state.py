"""What the screens show, kept from one snapshot and then the event stream: the TUI's and
the web pages' alike.

Pure: no I/O and no widgets, so the rules (which badge an app wears, which events make
the screen ask the daemon again) are tested without a terminal or a browser. `apply()`
says what an event changed; the screen turns that into the few calls and repaints it needs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from deployd.protocol.apps import AppInfo
from deployd.protocol.common import Role
from deployd.protocol.databases import DbInfo
from deployd.protocol.events import Event, EventType, HostSample
from deployd.protocol.methods import METHODS
from deployd.protocol.snapshot import SnapshotResult
from deployd.protocol.stats import AppStats

FEED_SIZE = 500
"""Events kept for the activity feed; older ones are a `deployctl events` away."""

RANK = {Role.VIEWER: 0, Role.DEPLOYER: 1, Role.ADMIN: 2}
JOB_FINISHED = frozenset({"succeeded", "failed", "cancelled"})
"""A job's states once it is over: the TUI's deploy screen and the web's deploy page stop
following it there."""


class Badge(StrEnum):
    LIVE = "live"
    DEPLOYING = "deploying"
    FAILED = "failed"
    CRASHLOOPING = "crashlooping"
    STOPPED = "stopped"
    NEW = "new"
    """Created, never deployed."""


BADGE_STYLE = {
    Badge.LIVE: "green",
    Badge.DEPLOYING: "yellow",
    Badge.FAILED: "red",
    Badge.CRASHLOOPING: "bold red",
    Badge.STOPPED: "dim",
    Badge.NEW: "cyan",
}

REFETCH = frozenset(
    {
        EventType.APP_CREATED,
        EventType.APP_RUNTIME,
        EventType.APP_RESTARTED,
        EventType.APP_RESTORED,
        EventType.APP_DOWN,
        EventType.DEPLOY_STARTED,
        EventType.DEPLOY_LIVE,
        EventType.DEPLOY_SUCCEEDED,
        EventType.DEPLOY_FAILED,
        EventType.APP_CRASHLOOPING,
        EventType.DOMAIN_ATTACHED,
        EventType.DOMAIN_DETACHED,
    }
)
"""Kinds after which an app's row is asked for again (its slots or URL changed)."""

DATABASE_KINDS = frozenset(kind for kind in EventType if kind.startswith("db."))


@dataclass(frozen=True, slots=True)
class Change:
    """What one event changed, so the app repaints only that."""

    feed: bool = False
    host: bool = False
    refetch_app: str | None = None
    removed_app: str | None = None
    badge_of: str | None = None
    databases: bool = False


@dataclass
class State:
    role: Role = Role.VIEWER
    user: str = ""
    version: str = ""
    apps: dict[str, AppInfo] = field(default_factory=dict)
    marks: dict[str, Badge] = field(default_factory=dict)
    """A crash loop under way (the app's row says it only once it was rolled back)."""
    feed: deque[Event] = field(default_factory=lambda: deque(maxlen=FEED_SIZE))
    """Newest first."""
    host: HostSample | None = None
    traffic: dict[str, AppStats] = field(default_factory=dict)
    databases: list[DbInfo] = field(default_factory=list)
    last_event_id: int = 0

    @classmethod
    def from_snapshot(cls, snapshot: SnapshotResult) -> State:
        state = cls(
            role=snapshot.status.identity.role,
            user=snapshot.status.identity.user,
            version=snapshot.status.version,
            apps={app.name: app for app in snapshot.apps},
            host=snapshot.host,
            traffic={stats.app: stats for stats in snapshot.traffic},
            databases=list(snapshot.databases),
            last_event_id=snapshot.last_event_id,
        )
        for event in reversed(snapshot.events):  # oldest first, as they happened
            state.apply(event)
        state.last_event_id = snapshot.last_event_id
        return state

    def may(self, method: str) -> bool:
        """Whether this user's role may call `method`: a viewer sees no mutating actions."""
        return RANK[self.role] >= RANK[METHODS[method].role]

    def badge(self, name: str) -> Badge:
        app = self.apps[name]
        if app.active_job is not None:
            return Badge.DEPLOYING
        mark = self.marks.get(name)
        if mark is not None:
            return mark
        if app.latest_status == "crashlooping":
            return Badge.CRASHLOOPING
        if app.latest_status == "failed":
            return Badge.FAILED
        if app.live_release is None:
            return Badge.NEW
        if app.live_slot is None or not any(
            slot.name == app.live_slot and slot.state == "live" for slot in app.slots
        ):
            return Badge.STOPPED
        return Badge.LIVE

    def counts(self) -> dict[Badge, int]:
        counted = dict.fromkeys(Badge, 0)
        for name in self.apps:
            counted[self.badge(name)] += 1
        return counted

    def apply(self, event: Event) -> Change:
        kind = event.type
        if kind is EventType.HOST_SAMPLE:
            payload = event.payload()
            if isinstance(payload, HostSample):
                self.host = payload
            return Change(host=True)
        if kind is EventType.DEPLOY_OUTPUT:
            return Change()  # a deploy's own screen shows its output
        if event.id:
            self.last_event_id = max(self.last_event_id, event.id)
            self.feed.appendleft(event)
        app = event.app
        badge_of = self._mark(kind, app)
        if kind is EventType.APP_DELETED and app:
            self.apps.pop(app, None)
            self.marks.pop(app, None)
            return Change(feed=True, removed_app=app)
        return Change(
            feed=True,
            refetch_app=app if kind in REFETCH and app else None,
            badge_of=badge_of,
            databases=kind in DATABASE_KINDS,
        )

    def _mark(self, kind: EventType | None, app: str | None) -> str | None:
        if app is None:
            return None
        if kind is EventType.APP_CRASHLOOPING:
            self.marks[app] = Badge.CRASHLOOPING
        elif kind in (
            EventType.DEPLOY_LIVE,
            EventType.DEPLOY_FAILED,  # a rollback ended it: the row says what came of it
            EventType.APP_RESTARTED,
            EventType.APP_RESTORED,
        ):
            self.marks.pop(app, None)
        else:
            return None
        return app

    def filtered_feed(self, text: str) -> list[Event]:
        """The feed, narrowed to events whose kind, app or message contain `text`."""
        needle = text.strip().lower()
        if not needle:
            return list(self.feed)
        return [
            event
            for event in self.feed
            if needle in event.kind
            or needle in (event.app or "")
            or needle in event.message.lower()
        ]
