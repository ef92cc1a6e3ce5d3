"""Which releases keep their artifacts: the newest few that went live, plus the live one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KEEP = 5


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    id: int
    build_key: str | None
    succeeded: bool


def artifacts_to_prune(
    releases: Sequence[ReleaseRef], live_release_id: int | None, keep: int = KEEP
) -> set[str]:
    """Build keys no kept release uses. `releases` may be in any order."""
    newest_first = sorted(releases, key=lambda r: r.id, reverse=True)
    kept = {r.id for r in [r for r in newest_first if r.succeeded][:keep]}
    if live_release_id is not None:
        kept.add(live_release_id)
    in_use = {r.build_key for r in releases if r.id in kept and r.build_key}
    unused = {r.build_key for r in releases if r.build_key and r.build_key not in in_use}
    return unused


def rollback_target(
    releases: Sequence[ReleaseRef], live_release_id: int | None, keep: int = KEEP
) -> ReleaseRef | None:
    """The newest kept successful release older than the live one."""
    kept = [r for r in sorted(releases, key=lambda r: r.id, reverse=True) if r.succeeded][:keep]
    return next((r for r in kept if live_release_id is None or r.id < live_release_id), None)
