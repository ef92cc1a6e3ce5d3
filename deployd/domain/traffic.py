"""Request analytics from nginx's access logs: the line format deployd gives nginx, how a
line is read, and the per-minute rollups kept in place of the lines.

nginx writes every app's requests in `deployd_v1`: tab-separated fields, each value
escaped by nginx (`escape=default`: quotes, backslashes, control and non-ASCII bytes as
`\\xHH`), so no request can hold a tab or a newline and forge a field or a line. A line
that is not exactly this format is counted as `unparsed`, never trusted.

Latency goes into a histogram of geometric buckets (each 25 % wider than the last), so
any percentile is known within 12.5 % and histograms of any minutes add up. Paths,
referrers and agents keep their top `TOP` entries per minute; the rest is counted under
`OTHER`. Visitors are counted as hashes of address and agent with a salt of the day, so
the addresses themselves are never stored.
"""

from __future__ import annotations

import hashlib
import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .errors import DomainError
from .text import excerpt

FORMAT_NAME = "deployd_v1"
VERSION = "v1"
FIELDS = (
    "$msec",
    "$status",
    "$body_bytes_sent",
    "$request_time",
    "$request_method",
    "$host",
    "$request_uri",
    "$http_referer",
    "$http_user_agent",
    "$remote_addr",
    "$http_x_deployd_check",
)
"""After the version tag. `$remote_addr` is the client's, after the trusted proxies."""
LOG_FORMAT = "\\t".join([VERSION, *FIELDS])
"""As written in nginx's configuration (nginx reads `\\t` as a tab in a quoted string)."""
COLUMNS = 1 + len(FIELDS)

MAX_FIELD = 512
"""Characters of a path, referrer or agent kept (a 1 MB user agent costs nothing)."""
TOP = 50
OTHER = "(other)"
RATIO = 1.25
BUCKETS: tuple[float, ...] = tuple(round(RATIO**i, 3) for i in range(0, 56))
"""Upper bounds in milliseconds: 1 ms to ~200 s; slower requests go in the last bucket."""
ERROR = (RATIO - 1) / 2
"""A percentile is reported as its bucket's geometric middle: within 12.5 %."""


def bucket(milliseconds: float) -> int:
    return min(bisect_left(BUCKETS, milliseconds), len(BUCKETS) - 1)


def percentile(histogram: Sequence[int], q: float) -> float | None:
    """The q-th percentile (0 < q ≤ 1) in milliseconds; None for no requests."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            upper = BUCKETS[index]
            lower = BUCKETS[index - 1] if index else 0.0
            return math.sqrt(upper * lower) if lower else upper
    return BUCKETS[-1]


def visitor(salt: bytes, client: str, agent: str) -> str:
    """A day's pseudonym of a visitor (address and agent): unlinkable across days."""
    return hashlib.blake2b(f"{client}\t{agent}".encode(), key=salt, digest_size=8).hexdigest()


@dataclass(slots=True)
class Rollup:
    """One app's requests in one period (a minute, an hour, a day)."""

    requests: int = 0
    bytes: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latency: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    paths: Counter[str] = field(default_factory=Counter)
    referrers: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)
    visitors: Counter[str] = field(default_factory=Counter)
    """Requests per visitor (a day's pseudonym)."""

    def status_classes(self) -> dict[str, int]:
        classes: Counter[str] = Counter()
        for status, count in self.statuses.items():
            classes[f"{status // 100}xx"] += count
        return dict(classes)

    def bounded(self) -> Rollup:
        """The same with paths, referrers and agents cut to their top `TOP`."""
        return Rollup(
            self.requests,
            self.bytes,
            self.statuses,
            self.latency,
            top(self.paths),
            top(self.referrers),
            top(self.agents),
            self.visitors,
        )

    def merge(self, other: Rollup) -> None:
        self.requests += other.requests
        self.bytes += other.bytes
        self.statuses.update(other.statuses)
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]
        self.paths.update(other.paths)
        self.referrers.update(other.referrers)
        self.agents.update(other.agents)
        self.visitors.update(other.visitors)


def merged(rollups: Iterable[Rollup]) -> Rollup:
    """Many periods' rollups as one (a range's totals)."""
    whole = Rollup()
    for rollup in rollups:
        whole.merge(rollup)
    return whole


def top(counts: Mapping[str, int], n: int = TOP) -> Counter[str]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept: Counter[str] = Counter(dict(ranked[:n]))
    rest = sum(count for _, count in ranked[n:])
    if rest:
        kept[OTHER] += rest
    return kept


@dataclass(slots=True)
class Batch:
    """What a run of lines added: rollups by (minute, as epoch seconds), and the lines
    that were not requests to count."""

    minutes: dict[int, Rollup] = field(default_factory=dict)
    unparsed: int = 0
    internal: int = 0
    """deployd's own requests (the switch's check), not traffic."""

    @property
    def requests(self) -> int:
        return sum(rollup.requests for rollup in self.minutes.values())

    @property
    def errors(self) -> int:
        """Answers 500 and above."""
        return sum(
            count
            for rollup in self.minutes.values()
            for status, count in rollup.statuses.items()
            if status >= 500
        )


def ingest(lines: Iterable[str], salt_of: Mapping[int, bytes], check_token: str) -> Batch:
    """Fold `lines` (without their newlines) into per-minute rollups. `salt_of` maps a day
    (epoch days) to its visitor salt; `check_token` marks deployd's own requests.

    The loop is the ingester's hot path, so what repeats is worked out once per batch and
    looked up after: a second's minute and salt, a status, a response time's bucket, a
    path, a visitor's hash. A value seen for the first time is checked then; a line with
    one that is not a number is unparsed. A line's values are only appended to its
    minute's lists; they are counted at the end, by Counter's C loop."""
    batch = Batch()
    tallies: dict[int, _Tally] = {}
    seconds_seen: dict[str, tuple[_Tally, int] | None] = {}
    codes: dict[str, int | None] = {}
    buckets: dict[str, int | None] = {}
    paths: dict[str, str] = {}
    pseudonyms: dict[tuple[int, str, str], str] = {}
    unparsed = internal = 0
    for line in lines:
        try:  # a line of another length does not unpack
            (version, msec, status, sent, took, _method, _host, uri, referer, agent, client,
             check) = line.split("\t")  # fmt: skip
        except ValueError:
            unparsed += 1
            continue
        if version != VERSION:
            unparsed += 1
            continue
        if check == check_token and check_token:
            internal += 1
            continue
        second = msec.partition(".")[0]
        try:
            found = seconds_seen[second]
        except KeyError:
            found = seconds_seen[second] = _tally_of(second, tallies)
        code = codes.get(status, -1)
        if code == -1:
            code = codes[status] = int(status) if status.isdigit() else None
        slot = buckets.get(took, -1)
        if slot == -1:
            slot = buckets[took] = _bucket_of(took)
        if found is None or code is None or slot is None or not sent.isdigit():
            unparsed += 1
            continue
        tally, day = found
        tally.codes.append(code)
        tally.slots.append(slot)
        tally.sent.append(sent)
        path = paths.get(uri)
        if path is None:
            path = paths[uri] = uri.split("?", 1)[0][:MAX_FIELD]
        tally.paths.append(path)
        if referer != "-":
            tally.referrers.append(referer[:MAX_FIELD])
        agent = agent[:MAX_FIELD]
        tally.agents.append(agent)
        seen = (day, client, agent)
        known = pseudonyms.get(seen)
        if known is None:
            salt = salt_of.get(day)
            known = pseudonyms[seen] = visitor(salt, client, agent) if salt else ""
        if known:
            tally.visitors.append(known)
    batch.unparsed, batch.internal = unparsed, internal
    for minute, tally in tallies.items():
        batch.minutes[minute] = tally.counted()
    return batch


@dataclass(slots=True)
class _Tally:
    """One minute's values as the lines gave them, counted once at the end."""

    codes: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    referrers: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    visitors: list[str] = field(default_factory=list)

    def counted(self) -> Rollup:
        latency = [0] * len(BUCKETS)
        for slot, count in Counter(self.slots).items():
            latency[slot] = count
        return Rollup(
            len(self.codes),
            sum(map(int, self.sent)),
            Counter(self.codes),
            latency,
            Counter(self.paths),
            Counter(self.referrers),
            Counter(self.agents),
            Counter(self.visitors),
        )


def _tally_of(second: str, tallies: dict[int, _Tally]) -> tuple[_Tally, int] | None:
    """The tally of the minute an epoch second (as text) falls in, and its day."""
    if not second.isdigit() or len(second) > 12:
        return None
    at = int(second)
    minute = at - at % 60
    tally = tallies.get(minute)
    if tally is None:
        tally = tallies[minute] = _Tally()
    return tally, at // 86400


def _bucket_of(took: str) -> int | None:
    """A response time in seconds (`0.004`) as its histogram bucket."""
    try:
        seconds = float(took)
    except ValueError:
        return None
    return bucket(seconds * 1000.0) if math.isfinite(seconds) and seconds >= 0 else None


SPAN = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_RANGE = timedelta(days=3650)


def parse_since(text: str, now: datetime) -> tuple[datetime, datetime]:
    """`90m`, `2h`, `7d`, `2w` (up to now), or `2026-11-01..2026-11-15` (whole UTC days,
    both included). Errors say what is accepted."""
    found = SPAN.fullmatch(text)
    if found:
        seconds = int(found.group(1)) * _UNITS[found.group(2)]
        if seconds > MAX_RANGE.total_seconds():
            raise DomainError(f"{text} is longer than ten years")
        return now - timedelta(seconds=seconds), now
    first, sep, last = text.partition("..")
    if sep and DAY.fullmatch(first) and DAY.fullmatch(last):
        try:
            start = datetime.strptime(first, "%Y-%m-%d").replace(tzinfo=UTC)
            end = datetime.strptime(last, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
        except ValueError:
            raise DomainError(f"{excerpt(text)} names a day that does not exist") from None
        if end <= start:
            raise DomainError(f"{excerpt(text)} ends before it starts")
        return start, min(end, now)
    raise DomainError(
        f"invalid --since {excerpt(text)}: a span such as 90m, 2h, 7d or 2w, or days such as "
        "2026-11-01..2026-11-15"
    )


MIN_REQUESTS_TO_JUDGE = 50
"""Fewer requests after a deploy than this say nothing about it."""


def regression(before: Rollup, after: Rollup) -> list[str]:
    """What got worse after a deploy, in words (empty: nothing): the 5xx rate at least
    doubled and up by a percentage point, or the p95 latency up by half and 50 ms."""
    if after.requests < MIN_REQUESTS_TO_JUDGE:
        return []
    found = []
    rate_before = _errors(before) / before.requests if before.requests else 0.0
    rate_after = _errors(after) / after.requests
    if rate_after >= max(2 * rate_before, rate_before + 0.01):
        found.append(f"5xx rose from {rate_before:.1%} to {rate_after:.1%} of requests")
    p95_before, p95_after = percentile(before.latency, 0.95), percentile(after.latency, 0.95)
    if (
        p95_before is not None
        and p95_after is not None
        and p95_after >= 1.5 * p95_before
        and p95_after - p95_before >= 50
    ):
        found.append(f"p95 latency rose from {p95_before:.0f} ms to {p95_after:.0f} ms")
    return found


def _errors(rollup: Rollup) -> int:
    return sum(count for status, count in rollup.statuses.items() if status >= 500)
