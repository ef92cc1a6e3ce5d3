"""The one vocabulary of event kinds holds together, and who is handed which kind."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from deployd.domain.slots import SlotState
from deployd.engine.events import EventBus, EventFilter
from deployd.engine.masks import Masks
from deployd.engine.readings import STALE_SECONDS, TrafficPass
from deployd.engine.slots import SLOT_EVENTS
from deployd.monitor.metrics import describe
from deployd.protocol.common import EVENT_KIND_PATTERN
from deployd.protocol.events import (
    PAYLOADS,
    TRANSIENT,
    Event,
    EventsSubscribeParams,
    EventType,
    HostSample,
    JobPayload,
)

SAMPLE = HostSample(
    cpu_percent=12.3,
    memory_used=3 * 1024**3 + 100 * 1024**2,
    memory_total=24 * 1024**3,
    load1=0.5,
    disk_percent=41.0,
    requests_per_s=2.5,
    errors_per_s=0.5,
)


def test_every_kind_is_one_a_client_can_subscribe_to() -> None:
    for kind in EventType:
        assert re.fullmatch(EVENT_KIND_PATTERN, kind.value), kind
        assert EventsSubscribeParams(kinds=[kind.value]).kinds == [kind.value]


def test_only_build_output_and_host_samples_are_transient() -> None:
    assert {kind for kind in EventType if kind.transient} == TRANSIENT
    assert {EventType.DEPLOY_OUTPUT, EventType.HOST_SAMPLE} == TRANSIENT


def test_payloads_are_those_of_deploys_and_host_samples() -> None:
    deploys = {kind for kind in EventType if kind.value.startswith("deploy.")}
    assert set(PAYLOADS) == deploys | {EventType.HOST_SAMPLE}
    assert all(PAYLOADS[kind] is JobPayload for kind in deploys)
    assert PAYLOADS[EventType.HOST_SAMPLE] is HostSample


def test_every_slot_state_is_announced_with_a_kind_of_the_vocabulary() -> None:
    assert set(SLOT_EVENTS) == set(SlotState)
    assert all(SLOT_EVENTS[state].value == f"slot.{state.value}" for state in SlotState)


def test_a_host_sample_reads_back_as_its_payload_and_a_new_kind_as_none() -> None:
    at = datetime.now(UTC)
    sample = Event(
        id=0, at=at, kind="host.sample", message=describe(SAMPLE), data=SAMPLE.model_dump()
    )
    assert sample.type is EventType.HOST_SAMPLE and sample.payload() == SAMPLE
    assert sample.message == "cpu 12 %, memory 3.1 of 24 GiB"
    assert Event(id=1, at=at, kind="moon.landed", message="one small step").type is None


def row(kind: str) -> dict[str, Any]:
    return {"id": 0, "kind": kind, "app": None, "data": {}}


@pytest.mark.parametrize(
    ("kinds", "handed"),
    [
        ((), False),  # `deployctl events -f`
        (("deploy",), False),  # `deploys.watch`
        (("host.disk",), False),
        (("hos",), False),  # whole segments only
        (("host",), True),
        (("host.sample",), True),
        (("user", "host.sample"), True),
    ],
)
def test_host_samples_go_only_to_subscribers_that_name_them(
    kinds: tuple[str, ...], handed: bool
) -> None:
    assert EventFilter(kinds=kinds).matches(row("host.sample")) is handed


def test_a_subscriber_without_kinds_still_gets_every_other_kind() -> None:
    for kind in EventType:
        if kind is not EventType.HOST_SAMPLE:
            assert EventFilter().matches(row(kind.value)), kind


class NoDatabase:
    """A pool that fails the test if asked for a connection."""

    def connection(self) -> None:
        raise AssertionError("a transient event was stored")


def test_transient_events_are_handed_out_with_id_zero_and_never_stored() -> None:
    bus = EventBus(NoDatabase(), Masks())  # type: ignore[arg-type]
    for kind in TRANSIENT:
        event = asyncio.run(bus.publish(kind, "said", actor="deployd", data={"job": 1}))
        assert event["id"] == 0 and event["kind"] == kind.value


def test_traffic_rates_are_of_the_last_pass_while_it_is_fresh() -> None:
    last = TrafficPass(requests=50, errors=5, seconds=2.0, ended=100.0)
    assert last.rates(101.0) == (25.0, 2.5)
    assert last.rates(100.0 + STALE_SECONDS + 1) == (0.0, 0.0)  # the ingester is stuck
    assert TrafficPass(requests=3, errors=0, seconds=0.0, ended=100.0).rates(100.0) == (0, 0)
