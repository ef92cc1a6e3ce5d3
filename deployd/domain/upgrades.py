"""Self-update's rules: which version to go to, which migrations an update may apply, and
what a starting daemon makes of an update it finds under way.

An update must be undoable without a restore: the daemon it replaces may have to run again
on the same database (the new one fails its health check, or `--rollback`). So an update
applies only migrations that old code can live with (expand: new tables, new nullable
columns, new indexes), never ones that take something away or change its meaning
(contract: drops, renames, type changes, new NOT NULLs); those need a planned upgrade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from packaging.version import InvalidVersion, Version


class UpdateRefused(ValueError):
    """The update cannot be made as asked; the message says why and what to do."""


class UpdateKind(StrEnum):
    UPDATE = "update"
    ROLLBACK = "rollback"


class UpdateStep(StrEnum):
    INSTALLING = "installing"
    BACKING_UP = "backing_up"
    MIGRATING = "migrating"
    SWITCHING = "switching"
    """The `current` link names the new version; the daemon is restarted and checked."""
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    """The new daemon was not healthy in time: the old one runs again."""
    FAILED = "failed"
    """Stopped before the switch: the running version was never left."""

    @property
    def finished(self) -> bool:
        return self in (UpdateStep.DONE, UpdateStep.ROLLED_BACK, UpdateStep.FAILED)


PRE_SWITCH = (
    UpdateStep.INSTALLING,
    UpdateStep.BACKING_UP,
    UpdateStep.MIGRATING,
)


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """The one update there is (the last one): kept in a file beside the data, because the
    daemon that starts it is not the one that finishes it."""

    id: str
    kind: UpdateKind
    from_version: str
    to_version: str
    step: UpdateStep
    started_at: datetime
    finished_at: datetime | None = None
    reason: str | None = None
    backup: str | None = None
    """The verified dump of deployd's database made before migrating."""
    published: bool = False
    """Whether a daemon has published the outcome as an event."""

    def moved(self, step: UpdateStep, now: datetime, reason: str | None = None) -> UpdateRecord:
        return replace(
            self,
            step=step,
            reason=reason if reason is not None else self.reason,
            finished_at=now if step.finished else None,
            published=False if step.finished else self.published,
        )


class OnStart(StrEnum):
    """What a daemon that starts does with the record it finds."""

    NOTHING = "nothing"
    INTERRUPTED = "interrupted"
    """It was being prepared by a daemon of this version, which stopped: it failed."""
    PUBLISH = "publish"
    """It is finished and nobody has said so yet."""


def on_start(record: UpdateRecord | None, running: str, updating_here: bool) -> OnStart:
    """`updating_here`: this daemon is preparing an update now."""
    if record is None:
        return OnStart.NOTHING
    if record.step.finished:
        return OnStart.NOTHING if record.published else OnStart.PUBLISH
    if record.step in PRE_SWITCH and record.from_version == running and not updating_here:
        return OnStart.INTERRUPTED
    return OnStart.NOTHING


def as_version(text: str) -> Version | None:
    """`1.4.2` or a tag's `v1.4.2`; None for anything else."""
    try:
        return Version(text.removeprefix("v"))
    except InvalidVersion:
        return None


def parse_version(text: str) -> Version:
    version = as_version(text)
    if version is None:
        raise UpdateRefused(f"not a version: {text!r} (versions look like 1.4.2)")
    return version


def choose(running: str, available: list[str], wanted: str | None) -> str:
    """The version to install: `wanted` if the source has it (older ones only when named),
    else the newest the source has when it is newer than the running one."""
    current = parse_version(running)
    offered = sorted({v for v in map(as_version, available) if v is not None})
    if wanted is not None:
        target = parse_version(wanted)
        if target == current:
            raise UpdateRefused(f"deployd {running} is already running")
        if target not in offered:
            hint = f" (the newest there is {offered[-1]})" if offered else ""
            raise UpdateRefused(f"the update source has no version {target}{hint}")
        return str(target)
    if not offered:
        raise UpdateRefused("the update source offers no versions")
    newest = offered[-1]
    if newest <= current:
        raise UpdateRefused(
            f"deployd {running} is up to date (the newest at the source is {newest}); "
            "to go back to an older version, name it with --to"
        )
    return str(newest)


class MigrationKind(StrEnum):
    EXPAND = "expand"
    CONTRACT = "contract"


DECLARED = re.compile(r"^--\s*deployd:\s*(expand|contract)\b", re.MULTILINE)
"""A migration may say what it is: `-- deployd: contract` for one the scan below would miss
(a changed function), `-- deployd: expand` for a drop of something only it created."""

_CONTRACT = (  # a dropped constraint only widens what old code may write: not here
    (re.compile(r"\bDROP\s+(TABLE|COLUMN|TYPE|SCHEMA|VIEW|FUNCTION)\b"), "drops"),
    (re.compile(r"\bRENAME\b"), "renames"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b"), "changes a type"),
    (re.compile(r"\bSET\s+NOT\s+NULL\b"), "adds a NOT NULL"),
    (re.compile(r"\bTRUNCATE\b"), "truncates"),
)
_COMMENTS_AND_STRINGS = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.DOTALL)


def migration_kind(sql: str) -> tuple[MigrationKind, list[str]]:
    """Expand or contract, and for a contract what makes it one."""
    declared = DECLARED.search(sql)
    if declared is not None:
        kind = MigrationKind(declared[1])
        return kind, ["declared so"] if kind is MigrationKind.CONTRACT else []
    code = _COMMENTS_AND_STRINGS.sub(" ", sql).upper()
    reasons = [what for pattern, what in _CONTRACT if pattern.search(code)]
    return (MigrationKind.CONTRACT if reasons else MigrationKind.EXPAND), reasons
