"""Which runtime a release runs on, decided from the app's setting, its manifest and the
host. Pure: the host facts (is the Docker Engine up? is systemd PID 1?) are inputs."""

from __future__ import annotations

from .errors import DomainError
from .manifest import Manifest

RUNTIMES = ("process", "docker", "systemd")
SETTINGS = ("auto", *RUNTIMES)


def choose_runtime(setting: str, manifest: Manifest, *, docker_up: bool, systemd: bool) -> str:
    """`auto`: docker for an app built with its Dockerfile, else systemd where it is PID 1,
    else process. An explicit setting is honoured or refused with the reason."""
    if setting not in SETTINGS:
        raise DomainError(f"unknown runtime {setting!r}: use one of {', '.join(SETTINGS)}")
    if manifest.builder == "docker":
        if setting not in ("auto", "docker"):
            raise DomainError(
                f"the app is built from its Dockerfile, which runs on docker, not {setting}: "
                'set builder = "native" in deployd.toml to build it from its Procfile'
            )
        if not docker_up:
            raise DomainError(
                "the app is built from its Dockerfile but the Docker Engine is not running "
                "(see `deployctl status`)"
            )
        return "docker"
    if setting == "docker":
        raise DomainError("the docker runtime needs a Dockerfile in the repository")
    if setting == "systemd" and not systemd:
        raise DomainError("the systemd runtime needs systemd as PID 1 on this host")
    if setting == "auto":
        return "systemd" if systemd else "process"
    return setting
