"""How an app describes itself: its `Procfile` and an optional `deployd.toml`.

Parsed from text here (pure), so a bad file is reported with what is wrong and where,
before anything is built or started.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import DomainError

PROCESS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class HealthCheck:
    path: str = "/"
    interval: float = 0.25
    timeout: float = 30.0
    passes: int = 2
    live_interval: float = 5.0
    """Once live, how often the check runs; 3 failures in a row restart the app."""


@dataclass(frozen=True, slots=True)
class Manifest:
    processes: dict[str, str]
    build_command: str | None = None
    stack: str | None = None
    health: HealthCheck = field(default_factory=HealthCheck)
    drain_seconds: float = 2.0
    stop_timeout: float = 10.0

    @property
    def web(self) -> str:
        return self.processes["web"]

    @property
    def release(self) -> str | None:
        return self.processes.get("release")

    def build_fingerprint(self) -> str:
        """What, besides the source, decides the build: same fingerprint, same artifact."""
        relevant = {"build_command": self.build_command, "stack": self.stack}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """The manifest a release was built with, as stored beside it."""
        return cls(**{**data, "health": HealthCheck(**data["health"])})


def parse_procfile(text: str) -> dict[str, str]:
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not sep or not PROCESS_NAME.fullmatch(name) or not command:
            raise DomainError(f"Procfile line {number}: expected `name: command`, got {raw!r}")
        if name in processes:
            raise DomainError(f"Procfile line {number}: {name!r} is defined twice")
        processes[name] = command
    if "web" not in processes:
        raise DomainError("the Procfile has no `web:` process (the command that serves $PORT)")
    return processes


def _number(table: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise DomainError(f"deployd.toml: {key} must be a number from {low} to {high}")
    return float(value)


def parse_manifest(procfile: str, toml_text: str | None, detected_stack: str | None) -> Manifest:
    processes = parse_procfile(procfile)
    if toml_text is None:
        return Manifest(processes=processes, stack=detected_stack)
    try:
        data = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise DomainError(f"deployd.toml: {exc}") from None
    unknown = set(data) - {"build", "health", "deploy", "docker", "resources"}
    if unknown:
        raise DomainError(f"deployd.toml: unknown sections {sorted(unknown)}")
    build = data.get("build", {})
    health = data.get("health", {})
    deploy = data.get("deploy", {})
    command = build.get("command")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise DomainError("deployd.toml: build.command must be a non-empty string")
    stack = build.get("stack", detected_stack)
    if stack not in (None, "python", "node", "none"):
        raise DomainError("deployd.toml: build.stack must be python, node or none")
    path = health.get("path", "/")
    if not isinstance(path, str) or not re.fullmatch(r"/[A-Za-z0-9._~/?=&%-]{0,200}", path):
        raise DomainError("deployd.toml: health.path must be a URL path starting with /")
    return Manifest(
        processes=processes,
        build_command=command,
        stack=None if stack == "none" else stack,
        health=HealthCheck(
            path=path,
            interval=_number(health, "interval", 0.25, 0.05, 60),
            timeout=_number(health, "timeout", 30, 1, 3600),
            passes=int(_number(health, "passes", 2, 1, 100)),
            live_interval=_number(health, "live_interval", 5.0, 0.1, 3600),
        ),
        drain_seconds=_number(deploy, "drain", 2.0, 0, 3600),
        stop_timeout=_number(deploy, "stop_timeout", 10.0, 1, 600),
    )
