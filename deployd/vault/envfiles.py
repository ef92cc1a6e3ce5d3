"""Writing a slot's env file: atomically, mode 0600, owned by the account the app runs as."""

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
    owner: tuple[int, int] | None,
) -> None:
    atomic.write(path, render(platform, config, header), mode=0o600, owner=owner)
