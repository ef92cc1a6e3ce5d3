"""The latest readings of the host and its traffic, kept in memory only: the sampler takes
the ingester's without asking PostgreSQL every ten seconds, and `system.snapshot` shows the
sampler's to a dashboard that starts between two `host.sample` events."""

from __future__ import annotations

from dataclasses import dataclass, field

from deployd.protocol.events import HostSample
from deployd.runtime.usage import CpuClock

STALE_SECONDS = 30.0
"""A pass older than this says nothing about now (the ingester passes every 5 s at most
apart unless it is stuck, e.g. waiting for the database)."""


@dataclass(frozen=True, slots=True)
class TrafficPass:
    """What one pass of the access-log ingester read, across every app."""

    requests: int
    errors: int
    """Answers 500 and above."""
    seconds: float
    """The time its lines arrived in: from the start of the pass before to its own."""
    ended: float
    """`time.monotonic()` when it ended."""

    def rates(self, now: float) -> tuple[float, float]:
        """Requests and errors per second; none when the pass is too old to tell."""
        if now - self.ended > STALE_SECONDS or self.seconds <= 0:
            return 0.0, 0.0
        return self.requests / self.seconds, self.errors / self.seconds


@dataclass
class Readings:
    traffic: TrafficPass | None = None
    """The ingester's last pass; None before its second (the first reads what came while
    deployd was down, which is no rate)."""
    host: HostSample | None = None
    """The sampler's latest `host.sample`."""
    cpu: CpuClock = field(default_factory=CpuClock)
    """The apps' processes' recent CPU readings, for `apps.ps` (a page that asks again
    within a minute gets its answer without waiting out a sampling interval)."""
