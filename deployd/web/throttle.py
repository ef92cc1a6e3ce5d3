"""Login rate limiting: after five wrong passwords for a name, or from an address, the next
attempt waits 30 s, and each further wrong one doubles the wait (up to 15 min).

What is counted is kept in this process's memory, bounded; it is forgotten a quarter of an
hour after the last wrong attempt once its wait has passed. A right password clears the
name's count but not the address's, so one account of one's own cannot be used to reset
the count of an address that tries others' names. The daemon audits every attempt
(`auth.login`); this only makes guessing slow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FREE = 5
"""Wrong attempts that cost nothing."""
FIRST_WAIT = 30.0
LONGEST_WAIT = 900.0
FORGET_AFTER = 900.0
MOST = 10_000


@dataclass(slots=True)
class _Count:
    wrong: int
    last: float


def wait_after(wrong: int) -> float:
    """Seconds between the last of `wrong` wrong attempts and the next one allowed."""
    if wrong < FREE:
        return 0.0
    return min(FIRST_WAIT * 2.0 ** (wrong - FREE), LONGEST_WAIT)


class Throttle:
    def __init__(self, *, most: int = MOST, clock: Callable[[], float] = time.monotonic) -> None:
        self._counts: dict[str, _Count] = {}
        self._most = most
        self._clock = clock

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds to wait before trying again as any of `keys` (0: go ahead)."""
        now = self._clock()
        longest = 0.0
        for key in keys:
            count = self._counts.get(key)
            if count is not None:
                longest = max(longest, count.last + wait_after(count.wrong) - now)
        return longest

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        for key in keys:
            count = self._counts.get(key)
            if count is None or self._forgotten(count, now):
                self._make_room(now)
                count = self._counts[key] = _Count(0, now)
            count.wrong += 1
            count.last = now

    def succeeded(self, key: str) -> None:
        self._counts.pop(key, None)

    def _forgotten(self, count: _Count, now: float) -> bool:
        return now - count.last >= wait_after(count.wrong) + FORGET_AFTER

    def _make_room(self, now: float) -> None:
        if len(self._counts) < self._most:
            return
        for key in [k for k, c in self._counts.items() if self._forgotten(c, now)]:
            del self._counts[key]
        while len(self._counts) >= self._most:
            del self._counts[min(self._counts, key=lambda k: self._counts[k].last)]
