"""Spans written the way operators type them: `90s`, `15m`, `12h`, `7d`, `2w`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^([1-9][0-9]{0,5})([smhdw])$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 12h, 7d, 2w)")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])
