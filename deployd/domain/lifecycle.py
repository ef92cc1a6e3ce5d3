"""The words the store keeps for a release's and a job's life, as enums: the engine compares
and writes these, never bare strings, and a test holds them equal to the SQL constraints."""

from __future__ import annotations

from enum import StrEnum


class ReleaseStatus(StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    BUILT = "built"
    LIVE = "live"
    SUPERSEDED = "superseded"
    """Was live; another release is now."""
    FAILED = "failed"
    """Never went live: `failed_step` and `error` say where and why."""
    CRASHLOOPING = "crashlooping"
    """Went live, crashed again and again, and was rolled back."""


class JobKind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    CONFIG = "config"
    """A config release: the live build with a new config version."""
    SCALE = "scale"
    RESTART = "restart"
    STOP = "stop"
    START = "start"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
