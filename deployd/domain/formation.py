"""Which processes a release runs: every Procfile type, with a count per type.

Counts follow Heroku and Dokku: `web` runs one process and every other type none, until
`deployctl scale` (or app.json's `formation`) says otherwise; `release` is the release
phase's command, never a running process. Web processes each have a port of the slot's;
the others just run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import DomainError
from .text import excerpt

MAX_COUNT = 64
PROCESS_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$")
"""Heroku's rule for process types: letters, digits, dashes and underscores."""
NOT_A_PROCESS = frozenset({"release"})
SCALE_ARG = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,30})=([0-9]{1,9})$")


@dataclass(frozen=True, slots=True, order=True)
class ProcessName:
    type: str
    index: int

    def __str__(self) -> str:
        return f"{self.type}.{self.index}"

    @property
    def web(self) -> bool:
        return self.type == "web"

    @classmethod
    def parse(cls, text: str) -> ProcessName:
        kind, _, index = text.rpartition(".")
        if not PROCESS_TYPE.fullmatch(kind) or not (index.isascii() and index.isdigit()):
            raise DomainError(f"not a process name: {excerpt(text)} (write e.g. web.1)")
        return cls(kind, int(index))


@dataclass(frozen=True, slots=True)
class Planned:
    """One process of a slot, as it is to run."""

    name: ProcessName
    command: str | None
    """None: a docker image's own command (a docker app with no `web:` line)."""
    port: int | None
    """Its port, for a web process."""


def counts(
    processes: Mapping[str, str | None], saved: Mapping[str, int], asked: Mapping[str, int]
) -> dict[str, int]:
    """How many of each type run: scaled (`saved`) over app.json (`asked`) over Heroku's
    defaults (web 1, others 0), for every type the release has."""
    found: dict[str, int] = {}
    for kind in processes:
        if kind in NOT_A_PROCESS:
            continue
        found[kind] = saved.get(kind, asked.get(kind, 1 if kind == "web" else 0))
    return found


def plan(
    processes: Mapping[str, str | None], counted: Mapping[str, int], web_ports: list[int]
) -> list[Planned]:
    """Every process to start, web first; the web processes take the slot's ports in order
    (there must be enough of them)."""
    planned: list[Planned] = []
    for kind in sorted(counted, key=lambda k: (k != "web", k)):
        for index in range(1, counted[kind] + 1):
            port = None
            if kind == "web":
                if index > len(web_ports):
                    raise DomainError(f"web.{index} has no port (the slot has {len(web_ports)})")
                port = web_ports[index - 1]
            planned.append(Planned(ProcessName(kind, index), processes[kind], port))
    return planned


def parse_scale(args: list[str]) -> dict[str, int]:
    """`web=3 worker=1` → {"web": 3, "worker": 1}; DomainError says what is wrong."""
    changes: dict[str, int] = {}
    for arg in args:
        match = SCALE_ARG.fullmatch(arg)
        if match is None:
            raise DomainError(f"not TYPE=COUNT: {excerpt(arg)} (write e.g. web=2 worker=1)")
        count = int(match[2])
        if count > MAX_COUNT:
            raise DomainError(f"{match[1]}: at most {MAX_COUNT} processes of a type")
        changes[match[1]] = count
    if not changes:
        raise DomainError("nothing to scale: give TYPE=COUNT, e.g. web=2")
    return changes


def check_scale(processes: Mapping[str, str | None], changes: Iterable[str]) -> None:
    """Every type scaled (or restarted) must be one the app's release runs."""
    unknown = sorted(set(changes) - (set(processes) - NOT_A_PROCESS))
    if unknown:
        have = ", ".join(sorted(set(processes) - NOT_A_PROCESS)) or "none"
        raise DomainError(
            f"no process type {', '.join(excerpt(u) for u in unknown)} in the live release's "
            f"Procfile (it has: {have})"
        )


def describe(counted: Mapping[str, int]) -> str:
    """`web=2, worker=1` (types at 0 left out; "nothing" when none runs)."""
    running = [f"{kind}={count}" for kind, count in sorted(counted.items()) if count]
    return ", ".join(running) or "nothing (every process type is scaled to 0)"
