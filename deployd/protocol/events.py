"""`events.*`: what happened, stored and streamed.

A subscription is answered once (`EventsSubscribeResult`) and then receives one
`events.event` notification per event until the client closes the connection.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from .common import EventKind, Params, Result
from .errors import ErrorKind, RpcError

EVENT_NOTIFICATION = "events.event"


class EventType(StrEnum):
    """Every kind of event the daemon publishes: the one vocabulary the daemon, the CLI,
    the TUI and the web GUI share. Clients meet kinds a newer daemon adds as plain strings
    (`Event.type` is None for them) and show them by their message."""

    APP_CREATED = "app.created"
    APP_DELETED = "app.deleted"
    APP_RUNTIME = "app.runtime"
    APP_RESTARTED = "app.restarted"
    APP_RESTORED = "app.restored"
    APP_RUN = "app.run"
    APP_CRASHED = "app.crashed"
    APP_CRASHLOOPING = "app.crashlooping"
    APP_DOWN = "app.down"
    SLOT_EMPTY = "slot.empty"
    SLOT_STARTING = "slot.starting"
    SLOT_HEALTHY = "slot.healthy"
    SLOT_LIVE = "slot.live"
    SLOT_DRAINING = "slot.draining"
    SLOT_STOPPED = "slot.stopped"
    SLOT_FAILED = "slot.failed"
    SLOT_CRASHED = "slot.crashed"
    SLOT_SUSPENDED = "slot.suspended"
    DEPLOY_STARTED = "deploy.started"
    DEPLOY_STEP = "deploy.step"
    DEPLOY_OUTPUT = "deploy.output"
    DEPLOY_WARNING = "deploy.warning"
    DEPLOY_CONFIG = "deploy.config"
    DEPLOY_LIVE = "deploy.live"
    DEPLOY_SUCCEEDED = "deploy.succeeded"
    DEPLOY_FAILED = "deploy.failed"
    ENV_CHANGED = "env.changed"
    ENV_RESTORED = "env.restored"
    DOMAIN_ATTACHED = "domain.attached"
    DOMAIN_DETACHED = "domain.detached"
    DOMAIN_REFUSED = "domain.refused"
    CERT_RENEWED = "cert.renewed"
    CERT_RENEWAL_FAILED = "cert.renewal_failed"
    SITE_REPAIRED = "site.repaired"
    DB_CREATED = "db.created"
    DB_DROPPED = "db.dropped"
    DB_LINKED = "db.linked"
    DB_UNLINKED = "db.unlinked"
    DB_BACKUP_VERIFIED = "db.backup_verified"
    DB_BACKUP_FAILED = "db.backup_failed"
    DB_BACKUP_OVERDUE = "db.backup_overdue"
    DB_REMOTE_SET = "db.remote_set"
    DB_REMOTE_COPY_FAILED = "db.remote_copy_failed"
    DB_RESTORED = "db.restored"
    USER_ADDED = "user.added"
    USER_REMOVED = "user.removed"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (a kind, not a secret)
    USER_LOGIN = "user.login"
    TOKEN_CREATED = "token.created"  # noqa: S105 (a kind, not a secret)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 (a kind, not a secret)
    GITHUB_LOGGED_IN = "github.logged_in"
    GITHUB_CONNECTED = "github.connected"
    GITHUB_DISCONNECTED = "github.disconnected"
    GITHUB_DELIVERY = "github.delivery"
    GITHUB_HOOK_REJECTED = "github.hook_rejected"
    GITHUB_PREVIEW_CREATED = "github.preview_created"
    GITHUB_PREVIEW_REMOVED = "github.preview_removed"
    TRAFFIC_REGRESSED = "traffic.regressed"
    HOST_DISK = "host.disk"
    HOST_SAMPLE = "host.sample"
    DISK_LOW = "disk.low"
    DISK_OK = "disk.ok"
    DAEMON_STARTED = "daemon.started"
    DAEMON_STOPPING = "daemon.stopping"
    DEPLOYD_UPDATE_STARTED = "deployd.update_started"
    DEPLOYD_UPDATED = "deployd.updated"
    DEPLOYD_UPDATE_FAILED = "deployd.update_failed"
    DEPLOYD_UPDATE_ROLLED_BACK = "deployd.update_rolled_back"

    @property
    def transient(self) -> bool:
        """Streamed to whoever listens, never stored: build output, host samples."""
        return self in TRANSIENT


TRANSIENT = frozenset({EventType.DEPLOY_OUTPUT, EventType.HOST_SAMPLE})


class JobPayload(Result):
    """The data of every `deploy.*` event: which job, and where it has got to."""

    job: int
    kind: str | None = None
    """On `deploy.started`: deploy, rollback, restart, scale, ..."""
    step: str | None = None
    release: int | None = None
    slot: str | None = None


class HostSample(Result):
    """The data of `host.sample`, published every 10 s: the machine and its traffic."""

    cpu_percent: float
    memory_used: int
    memory_total: int
    load1: float
    disk_percent: float
    requests_per_s: float = 0.0
    """Across every app, over the last pass of the log ingester."""
    errors_per_s: float = 0.0
    """Answers 500 and above, likewise."""


PAYLOADS: dict[EventType, type[Result]] = {
    **{kind: JobPayload for kind in EventType if kind.startswith("deploy.")},
    EventType.HOST_SAMPLE: HostSample,
}
"""The typed data of the kinds a client reads data from; the others carry their meaning in
their message."""


class Event(Result):
    id: int
    at: datetime
    kind: str
    app: str | None = None
    actor: str | None = None
    message: str
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def type(self) -> EventType | None:
        """The kind as this client knows it; None for a kind a newer daemon added."""
        try:
            return EventType(self.kind)
        except ValueError:
            return None

    def payload(self) -> Result | None:
        """The data as its kind's model, when the kind has one and the data fits it."""
        model = PAYLOADS.get(self.type) if self.type else None
        if model is None:
            return None
        try:
            return model.model_validate(self.data)
        except ValueError:
            return None


class EventsFilter(Params):
    kinds: list[EventKind] = Field(default_factory=list, max_length=32)
    """Prefixes: `user` matches `user.added` and `user.removed`. `host.sample` is sent
    only to a subscription that names it (or `host`): none by default."""
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


class StreamComplete(Exception):
    """The daemon ended a stream because it said all it had to say."""


def notification_params(message: dict[str, Any], expected: str) -> dict[str, Any] | None:
    """What a client of a stream makes of one message: the params of an `expected`
    notification, None for anything else; `stream.ended` raises StreamComplete (said all)
    or the RpcError it ended with. Shared by the CLI's and the TUI's clients."""
    method = message.get("method")
    if method == STREAM_ENDED_NOTIFICATION:
        params = message.get("params") or {}
        if params.get("kind") == "complete":
            raise StreamComplete
        raise RpcError(ErrorKind.UNAVAILABLE, str(params.get("reason", "stream ended")))
    if method == expected:
        return message.get("params") or {}
    return None


class StreamEnded(Result):
    reason: str
    kind: str = "unavailable"
    """`complete` when the stream has said all it had to say; an error kind otherwise."""
