"""`system.*`: the handshake and the daemon's own status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .common import VERSION_PATTERN, Identity, Params, Result


class HelloParams(Params):
    client: str | None = None


class HelloResult(Result):
    protocol: int
    version: str
    identity: Identity


class DatabaseStatus(Result):
    state: Literal["ok", "unreachable"]
    server_version: str | None = None
    migrations_applied: int = 0
    migrations_pending: int = 0
    detail: str | None = None


class HostFacts(Result):
    hostname: str
    os: str
    kernel: str
    python: str
    cpus: int
    memory_bytes: int
    root: bool
    systemd: bool
    docker: bool
    docker_detail: str | None = None
    nginx: str | None = None


class DiskStatus(Result):
    path: str
    free_bytes: int
    total_bytes: int
    low: bool
    """Less than 5% (or 64 MiB) left: logs and builds are about to fail."""


class CertificateProblem(Result):
    domain: str
    app: str
    not_after: datetime | None
    error: str
    failures: int


UpdateStepName = Literal[
    "installing",
    "backing_up",
    "migrating",
    "switching",
    "done",
    "rolled_back",
    "failed",
]


class UpdateInfo(Result):
    """The last self-update (or self-update rollback) and how it went."""

    kind: Literal["update", "rollback"]
    from_version: str
    to_version: str
    step: UpdateStepName
    started_at: datetime
    finished_at: datetime | None = None
    reason: str | None = None
    backup: str | None = None


class StatusResult(Result):
    version: str
    protocol: int
    mode: Literal["dev", "serve"]
    pid: int
    started_at: datetime
    uptime_seconds: float
    root: str
    socket: str
    database: DatabaseStatus
    host: HostFacts
    identity: Identity
    connections: int
    disks: list[DiskStatus] = Field(default_factory=list)
    certificates: int = 0
    """Certificates deployd manages."""
    certificate_problems: list[CertificateProblem] = Field(default_factory=list)
    """Certificates whose last issuance or renewal failed."""
    backups_overdue: list[str] = Field(default_factory=list)
    """Databases with a backup schedule and no verified backup within twice its interval."""
    installed_versions: list[str] = Field(default_factory=list)
    """Versions installed side by side (install.sh's layout); empty for a checkout."""
    update: UpdateInfo | None = None


class HostUsage(Result):
    cpus: int
    cpu_percent: float
    """Of all cores together."""
    memory_total: int
    memory_used: int
    load: tuple[float, float, float]
    net_sent_per_s: float
    net_received_per_s: float
    disks: list[DiskStatus]


class ProcessUsage(Result):
    name: str
    """`web.1`."""
    pid: int
    cpu_percent: float
    """Of one core."""
    rss_bytes: int


class AppUsage(Result):
    app: str
    cpu_percent: float
    rss_bytes: int
    processes: list[ProcessUsage]


class TopResult(Result):
    host: HostUsage
    apps: list[AppUsage]


class AppDisk(Result):
    app: str
    builds_bytes: int
    """Its builds and kept releases' artifacts."""
    logs_bytes: int
    """Its processes' log and its build logs, and nginx's access log of it."""
    images_bytes: int
    """Its docker images (0 for native apps)."""
    databases_bytes: int
    """The databases linked to it."""


class DiskResult(Result):
    host: list[DiskStatus]
    apps: list[AppDisk]
    backups_bytes: int


class UpdateParams(Params):
    to: str | None = Field(default=None, pattern=VERSION_PATTERN)
    """A version the source offers (older ones only when named); default the newest."""
    rollback: bool = False
    """Back to the version the last update came from."""


class UpdateCheckResult(Result):
    running: str
    installed: bool
    """Whether this deployd can update itself (install.sh's layout, under systemd)."""
    refusal: str | None = None
    """Why an update would be refused now (up to date, not installed, ...)."""
    newest: str | None = None
    target: str | None = None
    """What `self-update` would install."""
    source: str
    offered: list[str] = Field(default_factory=list)


class UpdateStarted(Result):
    update: UpdateInfo


class UpdateProgress(Result):
    step: UpdateStepName
    message: str


UPDATE_NOTIFICATION = "update.progress"
