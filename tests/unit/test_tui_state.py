"""The TUI's rules without a terminal: which badge an app wears, what an event changes,
who may do what, and that the CLI does not pay for Textual."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from deployctl.state import FEED_SIZE, Badge, State
from deployctl.tui.logview import LINE_CHARS, shown
from deployd.protocol.common import Role
from deployd.protocol.events import Event
from tests.support.canned_daemon import canned

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def state(role: Role = Role.ADMIN) -> State:
    snapshot = canned(role)["system.snapshot"]
    return State.from_snapshot(snapshot)  # type: ignore[arg-type]


def event(id: int, kind: str, app: str | None = None, **data: object) -> Event:
    return Event(id=id, at=NOW, kind=kind, app=app, message=f"{kind} {app}", data=data)


def test_badges_from_the_snapshot() -> None:
    seen = state()
    assert seen.badge("shop") is Badge.LIVE
    assert seen.badge("api") is Badge.DEPLOYING  # a job is running
    assert seen.badge("worker") is Badge.STOPPED
    assert seen.badge("docs") is Badge.NEW
    assert seen.counts()[Badge.LIVE] == 2


def test_the_badge_follows_the_newest_release_and_a_crash_loop_under_way() -> None:
    seen = state()
    shop = seen.apps["shop"]
    seen.apps["shop"] = shop.model_copy(update={"latest_release": 8, "latest_status": "failed"})
    assert seen.badge("shop") is Badge.FAILED, "the last deploy did not go live"
    change = seen.apply(event(20, "deploy.failed", "shop", job=50))
    assert change.refetch_app == "shop"  # the row says what failed, not the event
    seen.apps["shop"] = shop.model_copy(update={"latest_release": 7, "latest_status": "live"})
    assert seen.badge("shop") is Badge.LIVE, "a failed migration job is no failed deploy"
    seen.apply(event(21, "app.crashlooping", "blog"))
    assert seen.badge("blog") is Badge.CRASHLOOPING
    seen.apply(event(22, "app.restarted", "blog"))
    assert seen.badge("blog") is Badge.LIVE
    blog = seen.apps["blog"]
    seen.apps["blog"] = blog.model_copy(update={"latest_status": "crashlooping"})
    assert seen.badge("blog") is Badge.CRASHLOOPING, "rolled back after a crash loop"


def test_events_fill_the_feed_newest_first_and_bounded() -> None:
    seen = state()
    for number in range(100, 100 + FEED_SIZE + 10):
        seen.apply(event(number, "env.changed", "shop"))
    assert len(seen.feed) == FEED_SIZE
    assert seen.feed[0].id == 100 + FEED_SIZE + 9
    assert seen.last_event_id == 100 + FEED_SIZE + 9


def test_samples_and_build_output_do_not_enter_the_feed() -> None:
    seen = state()
    before = len(seen.feed)
    sample = Event(
        id=0,
        at=NOW,
        kind="host.sample",
        message="cpu",
        data={
            "cpu_percent": 99.0,
            "memory_used": 1,
            "memory_total": 2,
            "load1": 0.1,
            "disk_percent": 5.0,
        },
    )
    assert seen.apply(sample).host
    assert seen.host is not None and seen.host.cpu_percent == 99.0
    assert not seen.apply(event(0, "deploy.output", "shop", job=3)).feed
    assert len(seen.feed) == before


def test_a_deleted_app_leaves_and_a_kind_from_a_newer_daemon_is_shown_as_it_is() -> None:
    seen = state()
    assert seen.apply(event(30, "app.deleted", "blog")).removed_app == "blog"
    assert "blog" not in seen.apps
    change = seen.apply(event(31, "quota.exceeded", "shop"))
    assert change.feed and change.refetch_app is None
    assert seen.feed[0].kind == "quota.exceeded" and seen.feed[0].type is None


def test_the_feed_filter_matches_kind_app_and_words() -> None:
    seen = state()
    assert {e.kind for e in seen.filtered_feed("crash")} == {"app.crashed"}
    assert {e.app for e in seen.filtered_feed("shop")} >= {"shop"}
    assert len(seen.filtered_feed("")) == len(seen.feed)


def test_a_viewer_may_look_but_not_change() -> None:
    viewer = state(Role.VIEWER)
    assert viewer.may("apps.list") and viewer.may("logs.follow")
    assert not viewer.may("deploys.start") and not viewer.may("env.reveal")
    assert state(Role.DEPLOYER).may("deploys.start")
    assert not state(Role.DEPLOYER).may("apps.delete")


def test_a_huge_line_is_drawn_cut_and_the_search_highlighted() -> None:
    line = "2026-11-29T12:00:00.000Z web.1[v3]: " + "x" * 1_000_000 + " needle"
    drawn = shown(line, stamps=False, needle="")
    assert len(drawn.plain) < LINE_CHARS + 40
    assert drawn.plain.startswith("web.1[v3]")
    assert "more characters]" in drawn.plain
    found = shown("2026-11-29T12:00:00.000Z web.1[v3]: a Needle here", stamps=True, needle="needle")
    assert found.spans and found.plain[found.spans[0].start : found.spans[0].end] == "Needle"


def test_the_cli_does_not_load_textual() -> None:
    probe = "import sys, deployctl.cli; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
