"""Writing a slot's env file: atomically, mode 0600, the daemon's own (the slot's launcher,
which runs as the daemon's user, is its one reader: no app can read another's, or its
own, config from the file)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deployd import atomic
from deployd.domain.envfile import render


def write_env_file(
    path: Path,
    platform: Mapping[str, str],
    config: Mapping[str, str],
    *,
    header: str,
) -> None:
    atomic.write(path, render(platform, config, header), mode=0o600)
