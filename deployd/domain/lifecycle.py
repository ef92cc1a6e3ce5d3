"""The words the store keeps for a release's and a job's life, as enums: the engine compares
and writes these, never bare strings, and a test holds them equal to the SQL constraints."""

from __future__ import annotations

from enum import StrEnum

from .slots import SlotState


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
    MIGRATE = "migrate"
    """`deployctl db migrate`: the live release's `release:` command, as a one-off."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobStep(StrEnum):
    """Where a job is (and where a release that failed, failed)."""

    FETCH = "fetch"
    BUILD = "build"
    CONFIG = "config"
    """A config release: the live build with a new config version."""
    RELEASE = "release"
    """The release phase: the Procfile's `release:`, app.json's predeploy."""
    DRAIN = "drain"
    """Waiting for the previous release's drain to end."""
    START = "start"
    HEALTH = "health"
    SWITCH = "switch"
    POSTDEPLOY = "postdeploy"
    SCALE = "scale"
    RESTART = "restart"
    STOP = "stop"


class ProcessState(StrEnum):
    """What `deployctl ps` says of one process."""

    UP = "up"
    """Running in the live slot."""
    CRASHED = "crashed"
    """Exited on its own; restarted after a back-off."""
    STARTING = "starting"
    """In a slot a deploy is starting, not yet checked."""
    HEALTHY = "healthy"
    """Checked, about to serve."""
    DRAINING = "draining"
    """In the slot traffic just left: finishing its requests."""
    STOPPING = "stopping"
    """In a slot on its way to rest."""


def process_state(running: bool, slot: SlotState) -> ProcessState:
    """A process's state from whether it runs and its slot's state."""
    if not running:
        return ProcessState.CRASHED
    return {
        SlotState.LIVE: ProcessState.UP,
        SlotState.STARTING: ProcessState.STARTING,
        SlotState.HEALTHY: ProcessState.HEALTHY,
        SlotState.DRAINING: ProcessState.DRAINING,
    }.get(slot, ProcessState.STOPPING)
