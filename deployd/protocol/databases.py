"""`databases.*`: PostgreSQL databases for apps, their links, backups and restores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .apps import AppName, JobInfo
from .common import APP_NAME_PATTERN, ENV_NAME_PATTERN, Params, Result
from .stats import Since

DbName = Annotated[str, StringConstraints(pattern=APP_NAME_PATTERN)]
"""Checked again by the daemon (reserved names)."""
Variable = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]


class DbParams(Params):
    name: DbName


class DbShowParams(Params):
    name: DbName
    since: Since = "7d"
    """The range of the size history: as `stats.show` takes it (`90m`, `7d`, `2w`, or
    `2026-11-01..2026-11-15`)."""


class DbDropParams(Params):
    name: DbName
    kept_only: bool = False
    """Drop only the copies restores kept of it (no final backup: they are old copies)."""


class DbCreateParams(Params):
    name: DbName
    app: AppName | None = None
    """Link it to this app at once."""
    variable: Variable = "DATABASE_URL"


class DbMigrateParams(Params):
    app: AppName


class DbLinkParams(Params):
    database: DbName
    app: AppName
    variable: Variable = "DATABASE_URL"
    restart: bool = True
    """Apply the new config by a config release (as `env set` does)."""


class DbUnlinkParams(Params):
    database: DbName
    app: AppName
    restart: bool = True


class DbScheduleParams(Params):
    name: DbName
    schedule: list[Annotated[str, StringConstraints(max_length=20)]] = Field(max_length=3)
    """`hourly [:MM]`, `daily HH:MM`, `weekly DAY HH:MM` (UTC), or `off`."""
    keep: int = Field(default=14, ge=1, le=1000)


class DbRestoreParams(Params):
    name: DbName
    backup: int = Field(ge=1)
    into: DbName | None = None
    """Restore beside it, as a new database, rather than in its place."""


class DbLink(Result):
    app: str
    variable: str


class SizePoint(Result):
    at: datetime
    bytes: int


class SizeHistory(Result):
    """A database's size as the daemon sampled it (every 5 minutes), thinned to at most
    200 points, evenly spread over time; the first and last samples of the range are
    kept as they are, so the growth between them is exact."""

    since: datetime
    until: datetime
    """The range asked for (samples start when the database was created)."""
    points: list[SizePoint]
    """Oldest first; empty when none was recorded in the range."""


class DbInfo(Result):
    name: str
    host: str | None
    port: int | None
    user: str
    password: str | None
    """Only from `databases.reveal`."""
    url: str | None
    """Only from `databases.reveal`."""
    links: list[DbLink]
    size_bytes: int | None
    connections: int | None
    created_at: datetime
    schedule: str | None
    keep: int
    last_backup_at: datetime | None
    last_verified_at: datetime | None
    backup_overdue: bool
    """A schedule is set and no backup was verified within twice its interval."""
    migrated_at: datetime | None = None
    migrate_app: str | None = None
    migrate_status: int | None = None
    migrate_output: str | None = None
    kept: list[str] = Field(default_factory=list)
    """Databases restores replaced, kept until dropped (`db drop NAME --kept`)."""
    job: JobInfo | None = None
    """`create --app`: the config release that gives the app its URL."""
    reachable: bool = True
    """False when the apps' PostgreSQL did not answer (size and connections unknown)."""
    problem: str | None = None
    size_history: SizeHistory | None = None
    """Only from `databases.show` and `databases.reveal`."""


class DbListResult(Result):
    databases: list[DbInfo]


class DbLinkResult(Result):
    database: str
    app: str
    variable: str
    config_version: int | None
    job: JobInfo | None
    """The config release that applies it (None when staged or nothing is deployed)."""


class BackupInfo(Result):
    id: int
    database: str
    status: Literal["running", "verified", "failed", "deleted"]
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    size_bytes: int | None
    sha256: str | None
    tables: int | None
    rows: int | None
    error: str | None
    location: str = "local"
    """`local`, or `local+remote` once a copy is off this host."""
    remote: Literal["running", "copied", "failed", "deleted"] | None = None
    """The copy on remote storage (None: none was attempted)."""
    remote_error: str | None = None
    """Why the copy failed; on a `copied` copy of a `deleted` backup, why it could not be
    deleted yet (it is tried again)."""
    remote_attempts: int | None = None
    """Tries of the copy so far (None: none was attempted)."""
    remote_attempts_max: int | None = None
    """Tries a copy gets before it is given up."""
    remote_next_try_at: datetime | None = None
    """When a failed copy is tried again (None: it did not fail, or its tries are over)."""


class DbBackupsResult(Result):
    database: str
    backups: list[BackupInfo]


class DbRestoreResult(Result):
    database: str
    backup: int
    tables: int
    rows: int
    kept: str | None
    """The database it replaced, kept under this name (drop it when satisfied)."""


class DbDropResult(Result):
    name: str
    final_backup: BackupInfo | None
    """None when only kept copies were dropped (or the database had never been made)."""
    dropped: list[str]
    """Every database dropped: it, and the copies restores kept of it."""


class DbScheduleResult(Result):
    name: str
    schedule: str | None
    next_run_at: datetime | None


class DbPsqlStarted(Result):
    database: str
    user: str
    """The Unix account psql runs as: a linked app's, else an unprivileged one."""
    handoff: str
    """The one-time socket the client hands its terminal to (as `apps.run` does)."""


class RemoteSetParams(Params):
    access_key_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    secret_access_key: str = Field(min_length=1, max_length=500, repr=False)


class RemoteInfo(Result):
    endpoint: str | None
    bucket: str | None
    prefix: str
    access_key_id: str | None
    recipient: str | None
    """The age public key every copy is encrypted to."""
    identity: str | None = Field(default=None, repr=False)
    """The age secret key that decrypts them: returned once, when it is made."""
    ready: bool
    """Settings and keys are both there: verified backups are copied."""
