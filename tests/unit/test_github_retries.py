"""A report GitHub refused is tried again later, each time later, never more than 5 min."""

from __future__ import annotations

import time

import pytest

from deployd.engine.github_hooks import Retries


def test_a_failed_report_waits_longer_each_time_and_a_success_forgets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    retries = Retries()
    assert retries.ready(7)
    waits = []
    for _ in range(9):
        retries.failed(7)
        waits.append(retries.due[7][1] - now[0])
        assert not retries.ready(7) and retries.ready(8)
    assert waits[:4] == [5.0, 10.0, 20.0, 40.0] and waits[-1] == 300.0
    now[0] += 300.0
    assert retries.ready(7)
    retries.done(7)
    assert retries.due == {}
