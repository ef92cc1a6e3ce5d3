"""Who is logged in to `deployd web`: sessions in this process's memory.

A session holds what the daemon gave for the password (its session token, which never
leaves this process: the browser gets only a random session id in an HttpOnly cookie) and
the form token every POST must carry back (CSRF). It ends at logout, when the daemon's
token expires, or after an hour without a request; a restart of `deployd web` ends them
all (people log in again; their tokens expire in the daemon by themselves).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "deployd_session"
IDLE_SECONDS = 3600.0
"""A session nobody used for this long is over (a live page's stream counts as use: it
comes back every few minutes)."""
MOST = 10_000
"""Sessions kept at once; past it the least recently used goes."""


@dataclass(slots=True)
class Session:
    id: str = field(repr=False)
    user: str
    token: str = field(repr=False)
    """The daemon's session token: every call for this person presents it."""
    token_id: int
    """What logout revokes."""
    csrf: str = field(repr=False)
    """The form token: a POST without it is refused."""
    expires_at: float
    """The daemon's token's expiry (epoch seconds)."""
    last_seen: float
    notice: str | None = None
    """Said once on the next page (`deploy started`)."""

    def take_notice(self) -> str | None:
        notice, self.notice = self.notice, None
        return notice


class Sessions:
    def __init__(
        self,
        *,
        idle: float = IDLE_SECONDS,
        most: int = MOST,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._by_id: dict[str, Session] = {}
        self._idle = idle
        self._most = most
        self._clock = clock

    def __len__(self) -> int:
        return len(self._by_id)

    def open(self, user: str, token: str, token_id: int, expires_at: float) -> Session:
        """A new session with a new id (never one the browser had before: no fixation)."""
        now = self._clock()
        while len(self._by_id) >= self._most:
            oldest = min(self._by_id.values(), key=lambda s: s.last_seen)
            del self._by_id[oldest.id]
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            token=token,
            token_id=token_id,
            csrf=secrets.token_urlsafe(32),
            expires_at=expires_at,
            last_seen=now,
        )
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this id, its use noted; None (and forgotten) when over."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now >= session.expires_at or now - session.last_seen >= self._idle:
            del self._by_id[session_id]
            return None
        session.last_seen = now
        return session

    def close(self, session_id: str) -> Session | None:
        return self._by_id.pop(session_id, None)

    def prune(self) -> int:
        """Forget the sessions that are over; how many went."""
        now = self._clock()
        over = [
            s.id
            for s in self._by_id.values()
            if now >= s.expires_at or now - s.last_seen >= self._idle
        ]
        for session_id in over:
            del self._by_id[session_id]
        return len(over)
