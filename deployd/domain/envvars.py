"""The rules of an app's config: variable names, values, and how a change makes a version.

Names follow `^[A-Z_][A-Z0-9_]*$`. `PORT` and `DEPLOYD_*` belong to the platform (deployd
sets them for every slot), so an app cannot set them. Values may hold any character but
NUL, newlines and quotes included; the kernel refuses a single `NAME=value` string longer
than 128 KiB in a process's environment, so a longer one is refused here, with that reason,
rather than failing later at start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import DomainError

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,254}$")
RESERVED = frozenset({"PORT"})
RESERVED_PREFIX = "DEPLOYD_"
MAX_ENTRY_BYTES = 128 * 1024 - 1
"""MAX_ARG_STRLEN less the terminating NUL: the longest `NAME=value` execve accepts."""
MAX_TOTAL_BYTES = 1024 * 1024
"""All of an app's config together; the whole environment must also fit execve's limit."""


def check_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        raise DomainError(
            f"invalid variable name {name[:60]!r}: use A-Z, 0-9 and _, not starting with a digit"
        )
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise DomainError(f"{name} is set by deployd for every slot and cannot be changed")
    return name


def check_value(name: str, value: str) -> str:
    if "\x00" in value:
        raise DomainError(f"the value of {name} contains a NUL character, which no process can see")
    try:
        size = len(name.encode()) + 1 + len(value.encode())
    except UnicodeEncodeError:
        raise DomainError(f"the value of {name} is not valid text (a lone surrogate)") from None
    if size > MAX_ENTRY_BYTES:
        raise DomainError(
            f"{name} is {size:,} bytes with its name; the kernel allows at most "
            f"{MAX_ENTRY_BYTES:,} per variable (put large data in a file instead)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Change:
    values: dict[str, str]
    """The complete config after the change."""
    set: tuple[str, ...]
    """Names added or given a new value."""
    unset: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.set and not self.unset


def apply(
    current: Mapping[str, str],
    set_values: Mapping[str, str],
    unset: Sequence[str] = (),
    *,
    replace: bool = False,
) -> Change:
    """The config after setting `set_values` and removing `unset` (with `replace`: removing
    every variable not in `set_values`). Refuses unknown names in `unset`, not silently."""
    for name, value in set_values.items():
        check_name(name)
        check_value(name, value)
    overlap = sorted(set(set_values) & set(unset))
    if overlap:
        raise DomainError(f"{', '.join(overlap)} cannot be both set and unset")
    missing = sorted(n for n in unset if n not in current)
    if missing:
        raise DomainError(f"not set, so cannot be unset: {', '.join(missing)}")
    removed = set(current) - set(set_values) if replace else set(unset)
    values = {k: v for k, v in current.items() if k not in removed}
    values.update(set_values)
    total = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in values.items())
    if total > MAX_TOTAL_BYTES:
        raise DomainError(f"the config would be {total:,} bytes; at most {MAX_TOTAL_BYTES:,}")
    changed = tuple(sorted(k for k, v in set_values.items() if current.get(k) != v))
    return Change(values, changed, tuple(sorted(removed)))


def display(value: str) -> str:
    """How `env list` shows a value without revealing it: a long one (an API key, a token)
    keeps its first four characters, enough to tell `sk_live` from `sk_test` yet a sixth
    of it at most; a shorter one (a password) nothing."""
    if len(value) >= 24:
        return value[:4] + "…****"
    return "****"


@dataclass(frozen=True, slots=True)
class Comparison:
    """What changes, by name only, when one config replaces another. Never a value."""

    back: tuple[str, ...]
    gone: tuple[str, ...]
    changed: tuple[str, ...]


def compare(before: Mapping[str, str], after: Mapping[str, str]) -> Comparison:
    return Comparison(
        back=tuple(sorted(set(after) - set(before))),
        gone=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(k for k in set(before) & set(after) if before[k] != after[k])),
    )


def difference(before: Mapping[str, str], after: Mapping[str, str], limit: int = 8) -> str:
    """What changes, by name only, when config `after` replaces `before`: "DEBUG comes
    back, API_KEY goes, TOKEN changes" ('' when nothing does). Never a value."""
    found = compare(before, after)
    parts = (
        [f"{name} comes back" for name in found.back]
        + [f"{name} goes" for name in found.gone]
        + [f"{name} changes" for name in found.changed]
    )
    if len(parts) > limit:
        parts = [*parts[:limit], f"and {len(parts) - limit} more"]
    return ", ".join(parts)
