"""`system.snapshot`: everything a dashboard shows, in one call at its start.

The TUI and the web GUI ask for it once and then keep it current from the event stream
(`events.subscribe` with `after_id=snapshot.last_event_id`): no polling.
"""

from __future__ import annotations

from pydantic import Field

from .apps import AppInfo
from .common import Result
from .databases import DbInfo
from .events import Event, HostSample
from .stats import AppStats, Point
from .system import StatusResult


class SnapshotResult(Result):
    status: StatusResult
    apps: list[AppInfo]
    events: list[Event]
    """The newest events (up to 100), newest first."""
    last_event_id: int
    """Subscribe with `after_id` set to this to miss nothing that happens after."""
    host: HostSample | None = None
    """The latest `host.sample`; None until the daemon has taken one."""
    traffic: list[AppStats] = Field(default_factory=list)
    """Each app's last hour."""
    traffic_series: list[Point] = Field(default_factory=list)
    """Every app's requests minute by minute over the last hour, added up."""
    databases: list[DbInfo] = Field(default_factory=list)
