"""Which processes a release runs, and how `scale` is read."""

from __future__ import annotations

import pytest

from deployd.domain.errors import DomainError
from deployd.domain.formation import (
    MAX_COUNT,
    ProcessName,
    check_scale,
    counts,
    describe,
    parse_scale,
    plan,
)

PROCFILE = {"web": "gunicorn app:app", "worker": "celery worker", "release": "migrate"}


def test_heroku_defaults_one_web_and_no_other_then_app_json_then_scale() -> None:
    assert counts(PROCFILE, {}, {}) == {"web": 1, "worker": 0}
    assert counts(PROCFILE, {}, {"worker": 2}) == {"web": 1, "worker": 2}
    assert counts(PROCFILE, {"worker": 0, "web": 3}, {"worker": 2}) == {"web": 3, "worker": 0}


def test_web_processes_take_the_slots_ports_in_order_and_run_first() -> None:
    planned = plan(PROCFILE, {"worker": 1, "web": 2}, [20000, 20002])
    assert [(str(p.name), p.port) for p in planned] == [
        ("web.1", 20000),
        ("web.2", 20002),
        ("worker.1", None),
    ]
    with pytest.raises(DomainError, match=r"web\.3 has no port"):
        plan(PROCFILE, {"web": 3}, [20000, 20002])


def test_scale_reads_type_equals_count() -> None:
    assert parse_scale(["web=3", "worker=0", "clock_2=1"]) == {"web": 3, "worker": 0, "clock_2": 1}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["web=1000"], f"web: at most {MAX_COUNT} processes of a type"),
        (["web=abc"], "not TYPE=COUNT"),
        (["web=-1"], "not TYPE=COUNT"),
        (["=1"], "not TYPE=COUNT"),
        (["web"], "not TYPE=COUNT"),
        (["we b=1"], "not TYPE=COUNT"),
        ([], "nothing to scale"),
    ],
)
def test_scale_refuses_in_words(args: list[str], says: str) -> None:
    with pytest.raises(DomainError, match=says):
        parse_scale(args)


def test_only_the_releases_own_types_can_be_scaled_and_release_is_none() -> None:
    check_scale(PROCFILE, ["web", "worker"])
    for unknown in ("Web", "release", "clock"):
        with pytest.raises(DomainError, match="it has: web, worker"):
            check_scale(PROCFILE, [unknown])


def test_names_and_descriptions() -> None:
    assert ProcessName.parse("worker.2") == ProcessName("worker", 2)
    for bad in ("worker", "worker.", "worker.\u00b2", ".1"):
        with pytest.raises(DomainError):
            ProcessName.parse(bad)
    assert describe({"web": 2, "worker": 0, "clock": 1}) == "clock=1, web=2"
    assert describe({"web": 0}).startswith("nothing")
