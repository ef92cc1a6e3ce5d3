"""The update record on disk (`<data>/update.json`): written by the daemon that prepares an
update, by the finisher that restarts and checks, and read by whichever daemon runs next.
A file, not a table: the finisher must be able to write it when no daemon is healthy."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from deployd import atomic
from deployd.domain.upgrades import UpdateKind, UpdateRecord, UpdateStep

LIMIT = 64 * 1024


def read(path: Path) -> UpdateRecord | None:
    """None when there is none; a record that cannot be read counts as none (it is
    rewritten by the next update) rather than stopping the daemon."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # none, or a link (never followed)
        return None
    with os.fdopen(fd, "rb") as source:
        data = source.read(LIMIT + 1)
    if len(data) > LIMIT:
        return None
    try:
        return _decode(json.loads(data))
    except (ValueError, KeyError, TypeError):
        return None


def write(path: Path, record: UpdateRecord) -> None:
    atomic.write(path, json.dumps(_encode(record), indent=1) + "\n", mode=0o600)


def _encode(record: UpdateRecord) -> dict[str, Any]:
    fields = asdict(record)
    for key in ("started_at", "finished_at"):
        fields[key] = fields[key].isoformat() if fields[key] else None
    return fields


def _decode(fields: dict[str, Any]) -> UpdateRecord:
    finished = fields.get("finished_at")
    return UpdateRecord(
        id=str(fields["id"]),
        kind=UpdateKind(fields["kind"]),
        from_version=str(fields["from_version"]),
        to_version=str(fields["to_version"]),
        step=UpdateStep(fields["step"]),
        started_at=datetime.fromisoformat(fields["started_at"]),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        reason=fields.get("reason"),
        backup=fields.get("backup"),
        published=bool(fields.get("published", False)),
    )
