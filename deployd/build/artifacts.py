"""A build's artifact directory and its marker, `builds/<key>.json`, written last: a
directory with a marker is a finished build.

The marker lives beside the directory, not in it: the directory belongs to the app's
account (it built it and runs from it), the marker and the `builds/` directory to the
daemon, which therefore never reads a file the app could have replaced (a symlink to a
secret, a FIFO that would block it). A docker build's artifact is its image; the marker
names it. A native build's marker names the account that built it: a build made by an
account that no longer exists (an app deleted and made again) is not reused.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployd import atomic


def marker(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def write_marker(
    artifact: Path, key: str, *, image: str | None = None, uid: int | None = None
) -> None:
    data: dict[str, str | int] = {"key": key}
    if image is not None:
        data["image"] = image
    if uid is not None:
        data["uid"] = uid
    atomic.write(marker(artifact), json.dumps(data), mode=0o600)


def _read(artifact: Path) -> dict[str, object]:
    try:
        data = json.loads(marker(artifact).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_built(artifact: Path) -> bool:
    return marker(artifact).is_file()


def image_of(artifact: Path) -> str | None:
    """The image id of a docker build; None for a native one (or no build)."""
    image = _read(artifact).get("image")
    return image if isinstance(image, str) else None


def built_by(artifact: Path) -> int | None:
    """The uid of the account that made a native build (None: unknown, or docker)."""
    uid = _read(artifact).get("uid")
    return uid if isinstance(uid, int) else None


def forget(artifact: Path) -> None:
    """First step of removing a build: without its marker it no longer counts as built."""
    marker(artifact).unlink(missing_ok=True)
