"""The new-app wizard's form and a deploy's steps, without a browser: what the form is
refused for (never echoing a value), and the steps a job's events make, replays included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployd.protocol.events import Event
from deployd.web.steps import Progress, progress_of
from deployd.web.wizard import Refused, create_params, variables

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(event_id: int, kind: str, message: str, seconds: float, **data: object) -> Event:
    return Event(
        id=event_id,
        at=START + timedelta(seconds=seconds),
        kind=kind,
        app="shop",
        message=message,
        data={"job": 7, **data},
    )


def test_the_form_becomes_the_protocols_params_or_names_the_field_to_fix() -> None:
    params = create_params({"name": "shop", "git": "https://x.test/a.git", "branch": "main"})
    assert (params.git, params.branch, params.path, params.runtime) == (
        "https://x.test/a.git",
        "main",
        None,
        "auto",
    )
    local = create_params({"name": "shop", "path": "/srv/a", "branch": "x"})
    assert (local.path, local.branch, local.git) == ("/srv/a", None, None)  # branch is git's
    for fields, field in (
        ({"name": "Shop", "git": "u"}, "name"),
        ({"name": "shop"}, "git"),
        ({"name": "shop", "path": "rel/dir"}, "path"),
        ({"name": "shop", "git": "u", "path": "/srv/a"}, "path"),
        ({"name": "shop", "git": "u", "runtime": "vm"}, "runtime"),
    ):
        with pytest.raises(Refused) as refused:
            create_params(fields)
        assert refused.value.field == field, refused.value.message


def test_variables_are_refused_by_name_never_by_value() -> None:
    assert variables({"var0": "A", "value0": "1", "var2": "B_2", "value2": ""}) == {
        "A": "1",
        "B_2": "",
    }
    for fields in (
        {"var0": "lower", "value0": "secret-1"},
        {"var0": "", "value0": "secret-1"},
        {"var0": "A", "value0": "secret-1", "var1": "A", "value1": "secret-1"},
    ):
        with pytest.raises(Refused) as refused:
            variables(fields)
        assert "secret-1" not in refused.value.message


def test_steps_come_from_the_events_and_a_replay_changes_nothing() -> None:
    events = [
        event(1, "deploy.started", "deploy of shop", 0),
        event(2, "deploy.step", "fetching", 0, step="fetch"),
        event(3, "deploy.step", "building", 2, step="build"),
        event(0, "deploy.output", "npm install", 3),
        event(4, "deploy.step", "release phase", 5, step="release"),
    ]
    progress = progress_of(7, events)
    rows = progress.rows()
    assert [(r["name"], r["state"], r["took"]) for r in rows] == [
        ("fetch", "done", "2.0 s"),
        ("build", "done", "3.0 s"),
        ("release", "running", ""),
    ]
    assert progress.output == ["npm install"]
    assert all(progress.apply(e) is None for e in events if e.id)  # replayed: already seen
    assert progress.apply(event(9, "deploy.step", "other job", 6, job=8, step="x")) is None
    assert progress.apply(event(5, "deploy.failed", "release phase exited 1", 9)) == "outcome"
    assert progress.outcome == "failed" and progress.failed_step() == "release"
    assert progress.rows()[-1]["took"] == "4.0 s"


def test_a_job_that_went_live_ends_with_its_steps_done() -> None:
    progress = Progress(7)
    for e in (
        event(2, "deploy.step", "starting", 0, step="start"),
        event(3, "deploy.live", "v2 is live at http://shop.localhost", 1),
        event(4, "deploy.succeeded", "deploy job 7 finished", 2),
    ):
        progress.apply(e)
    assert [(r["name"], r["state"]) for r in progress.rows()] == [
        ("start", "done"),
        ("live", "done"),
    ]
    assert progress.outcome == "succeeded" and progress.failed_step() is None
