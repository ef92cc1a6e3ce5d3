"""How an app describes itself: its `Procfile`, an optional `deployd.toml`, and whether it
has a `Dockerfile`.

Parsed from text here (pure), so a bad file is reported with what is wrong and where,
before anything is built or started. A `Dockerfile` selects the docker builder unless
`deployd.toml` says `builder = "native"`; a docker app's Procfile is optional (without a
`web:` line the image's own command runs).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any

from .appjson import parse_app_json
from .errors import DomainError
from .formation import PROCESS_TYPE
from .text import escape, excerpt

MEMORY = re.compile(r"^([1-9][0-9]{0,6})([kmg])?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
NETWORKS = ("bridge", "host")


@dataclass(frozen=True, slots=True)
class HealthCheck:
    path: str = "/"
    interval: float = 0.25
    timeout: float = 30.0
    passes: int = 2
    live_interval: float = 5.0
    """Once live, how often the check runs; 3 failures in a row restart the app."""
    content: str | None = None
    """Text the answer's body must hold (app.json's Dokku checks)."""
    log_probes: bool = False
    """Keep the app's own log lines of deployd's probes (off: they are left out)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    processes: dict[str, str]
    build_command: str | None = None
    stack: str | None = None
    health: HealthCheck = field(default_factory=HealthCheck)
    drain_seconds: float = 2.0
    stop_timeout: float = 10.0
    settle_seconds: float = 5.0
    """How long processes without a port must keep running for their release to go live."""
    builder: str = "native"
    """`native` (Procfile, virtualenv, npm) or `docker` (the repository's Dockerfile)."""
    docker_network: str | None = None
    """`bridge` or `host`; None: the daemon's DEPLOYD_DOCKER_NETWORK."""
    memory_bytes: int | None = None
    cpus: float | None = None
    formation: dict[str, int] = field(default_factory=dict)
    """Process counts app.json asks for (deployctl scale overrides them)."""
    predeploy: str | None = None
    """Run before the switch, in the new release, after `release:` (app.json, Dokku)."""
    postdeploy: str | None = None
    """Run after every switch (app.json scripts.dokku.postdeploy)."""
    first_postdeploy: str | None = None
    """Run after the app's first deploy only (app.json scripts.postdeploy, Heroku)."""

    @property
    def web(self) -> str | None:
        """The web command; None for a docker app that runs its image's own command."""
        return self.processes.get("web")

    @property
    def release(self) -> str | None:
        return self.processes.get("release")

    def runnable(self) -> dict[str, str | None]:
        """Every process type that runs, with its command (None: a docker app with no
        `web:` line runs its image's own command as web)."""
        found: dict[str, str | None] = {k: v for k, v in self.processes.items() if k != "release"}
        if self.builder == "docker" and "web" not in found:
            found = {"web": None, **found}
        return found

    def build_fingerprint(self) -> str:
        """What, besides the source, decides the build: same fingerprint, same artifact."""
        relevant: dict[str, Any] = {"build_command": self.build_command, "stack": self.stack}
        if self.builder != "native":
            relevant["builder"] = self.builder
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """The manifest a release was built with, as stored beside it."""
        return cls(**{**data, "health": HealthCheck(**data["health"])})


def parse_procfile(text: str, *, need_one: bool = True) -> dict[str, str]:
    """Process types and their commands, as Heroku reads a Procfile: `type: command` per
    line, blank lines and `#` comments skipped (a `#` after a command is the shell's).
    `need_one`: at least one type that runs (not only `release:`)."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not sep or not PROCESS_TYPE.fullmatch(name) or not command:
            raise DomainError(
                f"Procfile line {number}: expected `name: command`, got {excerpt(raw)}"
            )
        if name in processes:
            raise DomainError(f"Procfile line {number}: {excerpt(name)} is defined twice")
        processes[name] = command
    if need_one and not set(processes) - {"release"}:
        raise DomainError(
            "the Procfile names no process to run: add `web: <command serving $PORT>` (or a worker)"
        )
    return processes


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise DomainError(f"deployd.toml: {name} must be a table ([{name}] with its settings)")
    return table


def _number(table: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise DomainError(f"health/deploy setting {key} must be a number from {low} to {high}")
    return float(value)


def _memory(value: object) -> int | None:
    if value is None:
        return None
    match = MEMORY.fullmatch(str(value)) if isinstance(value, str | int) else None
    if match is None or isinstance(value, bool):
        raise DomainError('deployd.toml: resources.memory must look like "512m" or "2g"')
    size = int(match[1]) * _UNITS[(match[2] or "").lower()]
    if size < 6 * 1024**2:
        raise DomainError("deployd.toml: resources.memory must be at least 6m")
    return size


def parse_manifest(
    procfile: str | None,
    toml_text: str | None,
    detected_stack: str | None,
    dockerfile: bool = False,
    *,
    prefer_native: bool = False,
    app_json: str | None = None,
) -> Manifest:
    """`procfile` None: the repository has none (allowed for a docker app only).
    `prefer_native`: the app was told to run as a process or a systemd unit, which a
    Dockerfile then does not override (an explicit `builder` still does)."""
    try:
        data = tomllib.loads(toml_text) if toml_text is not None else {}
    except tomllib.TOMLDecodeError as exc:
        raise DomainError(f"deployd.toml: {escape(str(exc), 200)}") from None
    except RecursionError:
        raise DomainError("deployd.toml: nested too deeply") from None
    unknown = set(data) - {"builder", "build", "health", "deploy", "docker", "resources"}
    if unknown:
        shown = ", ".join(excerpt(name, 40) for name in sorted(unknown)[:5])
        raise DomainError(f"deployd.toml: unknown settings {shown}")
    builder = data.get("builder", "docker" if dockerfile and not prefer_native else "native")
    if builder not in ("native", "docker"):
        raise DomainError('deployd.toml: builder must be "native" or "docker"')
    if builder == "docker" and not dockerfile:
        raise DomainError('deployd.toml says builder = "docker" but there is no Dockerfile')
    if procfile is None and builder == "native":
        raise DomainError("no Procfile in the repository: add one with a `web:` line")
    processes = parse_procfile(procfile or "", need_one=builder == "native")
    build, health, deploy, docker, resources = (
        _table(data, name) for name in ("build", "health", "deploy", "docker", "resources")
    )
    extra = parse_app_json(app_json)
    health = {**extra.health, **health}  # deployd.toml wins
    command = build.get("command")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise DomainError("deployd.toml: build.command must be a non-empty string")
    stack = build.get("stack", detected_stack)
    if stack not in (None, "python", "node", "none"):
        raise DomainError("deployd.toml: build.stack must be python, node or none")
    path = health.get("path", "/")
    if not isinstance(path, str) or not re.fullmatch(r"/[A-Za-z0-9._~/?=&%-]{0,200}", path):
        raise DomainError("deployd.toml: health.path must be a URL path starting with /")
    network = docker.get("network")
    if network is not None and network not in NETWORKS:
        raise DomainError('deployd.toml: docker.network must be "bridge" or "host"')
    cpus = resources.get("cpus")
    return Manifest(
        processes=processes,
        build_command=command if builder == "native" else None,
        stack=None if stack == "none" or builder == "docker" else stack,
        health=HealthCheck(
            path=path,
            interval=_number(health, "interval", 0.25, 0.05, 60),
            timeout=_number(health, "timeout", 30, 1, 3600),
            passes=int(_number(health, "passes", 2, 1, 100)),
            live_interval=_number(health, "live_interval", 5.0, 0.1, 3600),
            content=_content(health.get("content")),
            log_probes=_flag(health, "log_probes"),
        ),
        drain_seconds=_number(deploy, "drain", 2.0, 0, 3600),
        settle_seconds=_number(deploy, "settle", 5.0, 0, 600),
        stop_timeout=_number(deploy, "stop_timeout", 10.0, 1, 600),
        builder=builder,
        docker_network=network,
        memory_bytes=_memory(resources.get("memory")),
        cpus=None if cpus is None else _number(resources, "cpus", 1.0, 0.01, 1024),
        formation=extra.formation,
        predeploy=extra.predeploy,
        postdeploy=extra.postdeploy,
        first_postdeploy=extra.first_postdeploy,
    )


def _flag(table: dict[str, Any], key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise DomainError(f"deployd.toml: {key} must be true or false")
    return value


def _content(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise DomainError("health content must be text of 1 to 1000 characters")
    return value
