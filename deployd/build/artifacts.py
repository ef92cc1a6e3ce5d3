"""A build's artifact directory and its marker: written last, so a directory with a marker
is a finished build. A docker build's artifact is its image; the marker names it."""

from __future__ import annotations

import json
from pathlib import Path

MARKER = ".deployd-build.json"


def write_marker(artifact: Path, key: str, image: str | None = None) -> None:
    data: dict[str, str] = {"key": key}
    if image is not None:
        data["image"] = image
    (artifact / MARKER).write_text(json.dumps(data))


def is_built(artifact: Path) -> bool:
    return (artifact / MARKER).is_file()


def image_of(artifact: Path) -> str | None:
    """The image id of a docker build; None for a native one (or no build)."""
    try:
        image = json.loads((artifact / MARKER).read_text()).get("image")
    except (OSError, ValueError):
        return None
    return image if isinstance(image, str) else None
