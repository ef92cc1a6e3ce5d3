"""`apps.*`, `deploys.*`, `releases.*` and `logs.*`: apps and how they reach production."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .common import (
    APP_NAME_PATTERN,
    PROCESS_FILTER_PATTERN,
    PROCESS_TYPE_PATTERN,
    Duration,
    Params,
    Result,
)

AppName = Annotated[str, StringConstraints(pattern=APP_NAME_PATTERN)]
GitRef = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Runtime = Literal["auto", "process", "docker", "systemd"]
"""`auto`: docker for a repository with a Dockerfile, else systemd where it is PID 1, else
process; decided at each deploy."""

DEPLOY_NOTIFICATION = "deploys.event"
LOG_NOTIFICATION = "logs.line"


class AppsCreateParams(Params):
    name: AppName
    git: Annotated[str, StringConstraints(max_length=1000)] | None = None
    branch: GitRef | None = None
    path: Annotated[str, StringConstraints(max_length=4096)] | None = None
    runtime: Runtime = "auto"

    @model_validator(mode="after")
    def _one_source(self) -> AppsCreateParams:
        if (self.git is None) == (self.path is None):
            raise ValueError("give exactly one source: git (a repository URL) or path")
        if self.branch is not None and self.git is None:
            raise ValueError("branch only applies to a git source")
        return self


class SlotInfo(Result):
    name: str
    port: int
    state: str
    release: int | None
    """The number of the release it runs (v<release>)."""
    pid: int | None
    runtime: str = "process"


class AppInfo(Result):
    name: str
    source_kind: str
    source: str
    branch: str | None
    runtime: str
    live_slot: str | None
    live_release: int | None
    """The live release's number (v<live_release>)."""
    url: str
    created_at: datetime
    slots: list[SlotInfo]
    active_job: int | None = None
    latest_release: int | None = None
    """The newest release's number, live or not."""
    latest_status: str | None = None
    """Its status: `failed` when the last deploy did not go live, `crashlooping` when it
    went live and was rolled back (the badges of `apps list` and the TUI)."""


class AppsListResult(Result):
    apps: list[AppInfo]


class AppParams(Params):
    name: AppName


class AppsSetParams(Params):
    name: AppName
    runtime: Runtime
    """Takes effect at the next deploy, with the usual zero-downtime switch."""


class AppsDeleteResult(Result):
    name: str
    stopped_slots: int


class DeploysStartParams(Params):
    app: AppName
    ref: GitRef | None = None


class DeploysRollbackParams(Params):
    app: AppName
    to: int | None = Field(default=None, ge=1)
    """The release's number (v<to>); None: the one live before."""
    keep_env: bool = False
    """Run the earlier build with today's config, instead of the config it ran with."""


class JobInfo(Result):
    id: int
    app: str
    kind: str
    state: str
    step: str | None
    release: int | None
    """The number of the release it deploys (v<release>), once there is one."""
    error: str | None
    actor: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class DeploysWatchParams(Params):
    job: int = Field(ge=1)


class ReleaseInfo(Result):
    version: int
    """The release's number in its app (v1, v2, ...): what `rollback --to` and
    `logs --build` take."""
    commit: str | None
    ref: str | None
    status: str
    error: str | None
    """Why it failed (with the step's last lines of output), or why it was rolled back."""
    failed_step: str | None = None
    """The step it failed at: fetch, build, release, start, health, switch."""
    created_by: str | None
    created_at: datetime
    live_at: datetime | None
    env_version: int | None = None
    """The config version it runs (or ran) with."""
    live: bool
    kept: bool
    """Its build is still on disk: it can be rolled back to in a second."""


class ReleasesListParams(Params):
    app: AppName
    limit: int = Field(default=20, ge=1, le=1000)


class ReleasesListResult(Result):
    releases: list[ReleaseInfo]


ProcessType = Annotated[str, StringConstraints(pattern=PROCESS_TYPE_PATTERN)]
"""A Procfile process type (`web`, `worker`): letters, digits, dashes and underscores."""


class AppsScaleParams(Params):
    app: AppName
    changes: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=32
    )
    """`TYPE=COUNT` each, as typed (`web=3`): the daemon says what is wrong with one."""


class AppsRestartParams(Params):
    app: AppName
    type: ProcessType | None = None
    """Only this process type; every process when None."""


class ProcessInfo(Result):
    name: str
    """`web.1`: its type and index."""
    type: str
    slot: str
    release: int | None
    state: str
    """`up`, `crashed` (restarting after a back-off), or while a deploy moves its slot
    `starting`, `healthy`, `draining` or `stopping` (domain.lifecycle.ProcessState)."""
    pid: int | None
    """The app's own process (under its launcher); None for a container."""
    port: int | None
    started_at: datetime
    restarts: int
    last_exit: str | None
    cpu_percent: float | None
    rss_bytes: int | None


class AppsPsResult(Result):
    app: str
    stopped: bool
    live_release: int | None
    formation: dict[str, int]
    """Every process type of the live release and how many of it run."""
    processes: list[ProcessInfo]


RUN_NOTIFICATION = "run.ended"


class AppsRunParams(Params):
    app: AppName
    command: list[Annotated[str, StringConstraints(max_length=8192)]] = Field(
        min_length=1, max_length=256
    )
    """One argument: run by /bin/sh -c (pipes, $VARS); several: run as they are."""
    detach: bool = False
    """Run in the background, its output in the app's logs."""


class RunStarted(Result):
    process: str
    """`run.4821`: how its lines are named in the logs."""
    release: int
    handoff: str | None
    """Attached: the one-time socket the client hands its stdin, stdout and stderr to."""


class RunEnded(Result):
    status: int | None
    """The command's exit status (128 + N for signal N); None when it never started."""
    error: str | None = None


ProcessFilter = Annotated[str, StringConstraints(pattern=PROCESS_FILTER_PATTERN)]
"""A process type (`worker`) or one process (`worker.2`)."""


class LogsReadParams(Params):
    app: AppName
    lines: int = Field(default=100, ge=1, le=10_000)
    build: int | None = Field(default=None, ge=1)
    """A release's number: its build log instead of the runtime log."""
    process: ProcessFilter | None = None
    since: Duration | None = None
    """Only lines written this long ago or later (`15m`)."""


class LogsReadResult(Result):
    source: str
    lines: list[str]


class LogsFollowParams(Params):
    app: AppName
    lines: int = Field(default=20, ge=0, le=10_000)
    process: ProcessFilter | None = None
    since: Duration | None = None


class LogsFollowStarted(Result):
    following: str


class LogLine(Result):
    line: str
