"""Slot ports: two per app from a configured range, never one in use by anything else."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .errors import DomainError

RANGE = re.compile(r"^([0-9]{4,5})-([0-9]{4,5})$")


def parse_range(text: str) -> range:
    match = RANGE.fullmatch(text)
    if not match or not 1024 <= int(match[1]) < int(match[2]) <= 65535:
        raise DomainError(f"invalid port range {text!r}: use LOW-HIGH within 1024-65535")
    return range(int(match[1]), int(match[2]) + 1)


def pick_ports(
    candidates: range, assigned: Iterable[int], is_free: Callable[[int], bool], count: int = 2
) -> list[int]:
    """The lowest `count` ports not assigned to a slot and not taken by another program."""
    taken = set(assigned)
    chosen: list[int] = []
    for port in candidates:
        if port in taken or not is_free(port):
            continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise DomainError(
        f"no free ports left in {candidates.start}-{candidates.stop - 1}: "
        "widen DEPLOYD_PORT_RANGE or delete unused apps"
    )


def ephemeral_overlap(slots: range, ephemeral: range) -> range | None:
    """Slot ports the kernel may also hand to outgoing connections: a slot that starts
    while one of them holds its port cannot bind it."""
    low, high = max(slots.start, ephemeral.start), min(slots.stop, ephemeral.stop)
    return range(low, high) if low < high else None
