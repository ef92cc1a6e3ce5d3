"""`system.*`: the handshake and the daemon's own status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .common import Identity, Params, Result


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
