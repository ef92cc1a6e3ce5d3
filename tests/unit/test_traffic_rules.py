"""Reading nginx's access lines in deployd's format, and the rollups made of them."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from deployd.domain import traffic
from deployd.domain.errors import DomainError
from deployd.domain.traffic import BUCKETS, ERROR, OTHER, Rollup, ingest, percentile, top

SALT = {20421: b"s" * 16}  # 2025-11-29, in epoch days
AT = 20421 * 86400 + 3600  # one hour into that day


def line(
    *,
    at: float = AT,
    status: int = 200,
    size: int = 512,
    seconds: float = 0.012,
    uri: str = "/",
    referer: str = "-",
    agent: str = "curl/8",
    client: str = "192.0.2.1",
    check: str = "-",
) -> str:
    fields = ["v1", f"{at:.3f}", str(status), str(size), f"{seconds:.3f}", "GET", "shop.test",
              uri, referer, agent, client, check]  # fmt: skip
    return "\t".join(fields)  # as read_chunk gives them: without the newline


def test_the_nginx_format_has_one_field_per_column() -> None:
    assert traffic.LOG_FORMAT.count("\\t") == traffic.COLUMNS - 1
    assert traffic.LOG_FORMAT.startswith("v1\\t$msec")


def test_requests_are_counted_by_minute_status_and_size() -> None:
    batch = ingest(
        [line(), line(status=404, size=10), line(at=AT + 61, status=500, size=0)], SALT, "tok"
    )
    first, second = batch.minutes[AT], batch.minutes[AT + 60]
    assert (first.requests, first.bytes, dict(first.statuses)) == (2, 522, {200: 1, 404: 1})
    assert second.status_classes() == {"5xx": 1}
    assert batch.unparsed == 0 and batch.internal == 0


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a log line\n",
        line()[:40] + "\n",  # truncated
        line().replace("v1", "v9"),  # another version of the format
        '127.0.0.1 - - [29/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"\n',
        line().replace("\t200\t", "\tOK\t"),
        line().replace("\t512\t", "\t\x00\x01\t"),
        line().rstrip("\n") + "\textra\n",  # a forged field
    ],
)
def test_a_line_not_in_the_format_is_unparsed_and_nothing_else(bad: str) -> None:
    batch = ingest([bad, line()], SALT, "tok")
    assert batch.unparsed == 1 and batch.minutes[AT].requests == 1


def test_deployds_own_checks_are_not_traffic_but_a_forged_mark_is() -> None:
    batch = ingest([line(check="tok"), line(check="guess")], SALT, "tok")
    assert batch.internal == 1 and batch.minutes[AT].requests == 1


def test_long_fields_are_cut_and_query_strings_dropped_from_paths() -> None:
    batch = ingest([line(uri="/a?secret=1", agent="x" * 1_000_000)], SALT, "tok")
    rollup = batch.minutes[AT]
    assert set(rollup.paths) == {"/a"}
    assert [len(a) for a in rollup.agents] == [traffic.MAX_FIELD]


def test_visitors_are_salted_hashes_of_address_and_agent() -> None:
    batch = ingest(
        [line(client="192.0.2.1"), line(client="192.0.2.1"), line(client="192.0.2.2")],
        SALT,
        "tok",
    )
    visitors = batch.minutes[AT].visitors
    assert len(visitors) == 2 and not any("192.0.2" in v for v in visitors)
    other_day = traffic.visitor(b"t" * 16, "192.0.2.1", "curl/8")
    assert other_day not in visitors


def test_percentiles_are_within_the_stated_error() -> None:
    rng = random.Random(7)
    took = [rng.lognormvariate(3, 1.2) for _ in range(20_000)]  # ms
    rollup = Rollup()
    for ms in took:
        rollup.latency[traffic.bucket(ms)] += 1
    exact = sorted(took)
    for q in (0.5, 0.95, 0.99):
        true = exact[math.ceil(q * len(exact)) - 1]
        found = percentile(rollup.latency, q)
        assert found is not None and abs(found - true) / true <= ERROR + 1e-9, (q, found, true)
    assert percentile([0] * len(BUCKETS), 0.5) is None


def test_tops_keep_the_most_frequent_and_count_the_rest() -> None:
    counts = {f"/p{i}": i for i in range(1, 61)}
    kept = top(counts, 50)
    assert len(kept) == 51 and kept["/p60"] == 60 and "/p10" not in kept
    assert kept[OTHER] == sum(range(1, 11))
    assert sum(kept.values()) == sum(counts.values())


def test_rollups_add_up() -> None:
    a = ingest([line(), line(seconds=2.0)], SALT, "tok").minutes[AT]
    b = ingest([line(status=503, client="192.0.2.9")], SALT, "tok").minutes[AT]
    a.merge(b)
    assert a.requests == 3 and sum(a.latency) == 3 and a.statuses[503] == 1
    assert len(a.visitors) == 2


def traffic_of(requests: int, errors: int, ms: float) -> Rollup:
    rollup = Rollup(requests=requests)
    rollup.statuses[200] = requests - errors
    rollup.statuses[500] = errors
    rollup.latency[traffic.bucket(ms)] = requests
    return rollup


def test_a_deploy_that_made_things_worse_is_told_in_words() -> None:
    before = traffic_of(1000, 2, 40)
    assert traffic.regression(before, traffic_of(200, 0, 42)) == []
    errors = traffic.regression(before, traffic_of(200, 10, 40))
    assert errors == ["5xx rose from 0.2% to 5.0% of requests"]
    slow = traffic.regression(before, traffic_of(200, 0, 300))
    assert len(slow) == 1 and slow[0].startswith("p95 latency rose from")
    assert traffic.regression(before, traffic_of(20, 20, 900)) == []  # too few to say
    assert traffic.regression(Rollup(), traffic_of(100, 5, 10)) == [
        "5xx rose from 0.0% to 5.0% of requests"
    ]


@pytest.mark.parametrize(
    ("text", "hours"),
    [("90m", 1.5), ("2h", 2), ("7d", 168), ("2w", 336)],
)
def test_since_spans(text: str, hours: float) -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    since, until = traffic.parse_since(text, now)
    assert until == now and (now - since).total_seconds() == hours * 3600


def test_since_days_are_whole_utc_days_and_garbage_is_refused() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    since, until = traffic.parse_since("2026-11-01..2026-11-15", now)
    assert since == datetime(2026, 11, 1, tzinfo=UTC)
    assert until == datetime(2026, 11, 16, tzinfo=UTC)
    for bad in ("yesterday", "0h", "2026-02-30..2026-03-01", "2026-11-15..2026-11-01", "1y"):
        with pytest.raises(DomainError):
            traffic.parse_since(bad, now)
