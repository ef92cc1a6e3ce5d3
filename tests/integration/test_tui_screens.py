"""The TUI's screens as they look (snapshots at 80x24 and 120x40), and what it does when
the daemon goes away and comes back, against a stand-in that speaks the wire protocol
with fixed answers (a real daemon's pids and times would change every snapshot)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import HelpPanel

from deployctl.tui.app import DeploydApp
from deployctl.tui.explorer import Explorer
from deployctl.tui.logview import LogView
from deployd.protocol.apps import LogLine
from deployd.protocol.common import Role
from deployd.protocol.events import EVENT_NOTIFICATION, Event
from tests.support.canned_daemon import T0, CannedDaemon, canned_daemon

SnapCompare = Callable[..., bool]
STREAMS = ("events", "log-stream")
"""Workers that run as long as the screen: the others finish once answered."""


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Times on the screen are local: make local UTC so every machine draws the same."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[CannedDaemon]:
    with canned_daemon(tmp_path) as running:
        yield running


@pytest.fixture
def viewer_daemon(tmp_path: Path) -> Iterator[CannedDaemon]:
    with canned_daemon(tmp_path, Role.VIEWER) as running:
        yield running


async def until(pilot: Pilot[Any], ready: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout} s")
        await pilot.pause(0.05)


async def ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, DeploydApp)
    await until(pilot, lambda: app.ready)
    await settled(pilot)


async def settled(pilot: Pilot[Any]) -> None:
    """Every call the screen made has been answered and drawn (not a guess of how long)."""
    await pilot.pause(0.1)
    await until(
        pilot,
        lambda: all(w.is_finished or w.group in STREAMS for w in pilot.app.workers),
    )
    await pilot.pause(0.1)


async def on_shop(pilot: Pilot[Any], tab: str = "1") -> None:
    await ready(pilot)
    app = pilot.app
    assert isinstance(app, DeploydApp)
    app.main.query_one(Explorer).select("shop")  # type: ignore[union-attr]
    await until(pilot, lambda: app.shown_app == "shop")
    await pilot.press(tab)
    await settled(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_dashboard(snap_compare: SnapCompare, daemon: CannedDaemon, size: tuple[int, int]) -> None:
    assert snap_compare(DeploydApp(daemon.path), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_app_overview(
    snap_compare: SnapCompare, daemon: CannedDaemon, size: tuple[int, int]
) -> None:
    assert snap_compare(DeploydApp(daemon.path), terminal_size=size, run_before=on_shop)


@pytest.mark.parametrize("tab", ["2", "3", "4"])
def test_app_tabs(snap_compare: SnapCompare, daemon: CannedDaemon, tab: str) -> None:
    async def open_tab(pilot: Pilot[Any]) -> None:
        await on_shop(pilot, tab)

    assert snap_compare(DeploydApp(daemon.path), terminal_size=(120, 40), run_before=open_tab)


def test_database_manager(snap_compare: SnapCompare, daemon: CannedDaemon) -> None:
    async def manager(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("D")
        await settled(pilot)

    assert snap_compare(DeploydApp(daemon.path), terminal_size=(120, 40), run_before=manager)


def test_new_app_wizard(snap_compare: SnapCompare, daemon: CannedDaemon) -> None:
    async def wizard(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("n", *"Bad_Name")
        await pilot.pause(0.2)

    assert snap_compare(DeploydApp(daemon.path), terminal_size=(80, 24), run_before=wizard)


def test_light_theme(snap_compare: SnapCompare, daemon: CannedDaemon) -> None:
    async def light(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause(0.2)

    assert snap_compare(DeploydApp(daemon.path), terminal_size=(120, 40), run_before=light)


def test_a_viewers_dashboard_offers_no_actions(
    snap_compare: SnapCompare, viewer_daemon: CannedDaemon
) -> None:
    assert snap_compare(DeploydApp(viewer_daemon.path), terminal_size=(120, 40), run_before=ready)


@pytest.mark.asyncio
async def test_a_dropped_daemon_is_said_at_once_and_the_stream_comes_back(
    daemon: CannedDaemon,
) -> None:
    app = DeploydApp(daemon.path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert daemon.calls.count("system.snapshot") == 1, "one snapshot at start, no polling"
        daemon.drop()
        await until(pilot, lambda: "disconnected — reconnecting" in str(app.sub_title))
        daemon.back()
        await until(pilot, lambda: str(app.sub_title).startswith("ada (admin)"))
        assert daemon.calls.count("events.subscribe") == 2
        later = Event(id=10, at=T0, kind="app.crashed", app="blog", message="came back")
        await until(pilot, lambda: bool(daemon.connections))
        daemon.notify(EVENT_NOTIFICATION, later)
        await until(pilot, lambda: app.state.feed[0].id == 10)
        assert daemon.calls.count("system.snapshot") == 1


@pytest.mark.asyncio
async def test_the_log_viewer_shows_a_dropped_stream_and_resumes(daemon: CannedDaemon) -> None:
    app = DeploydApp(daemon.path)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_shop(pilot, "5")
        view = app.main.query_one(LogView)  # type: ignore[union-attr]
        await until(pilot, lambda: view.link.value == "live")
        line = LogLine(line="2026-11-29T09:30:00.000Z web.1[v7]: hello")
        daemon.notify("logs.line", line)
        await until(pilot, lambda: view.received == 1)
        daemon.drop()
        status = view.query_one("#log-status")
        await until(pilot, lambda: "disconnected — reconnecting" in str(status.render()))
        daemon.back()
        await until(pilot, lambda: view.link.value == "live")
        assert "disconnected" not in str(status.render())
        daemon.notify("logs.line", line)  # the same line again, as a resumed stream sends it
        newer = LogLine(line="2026-11-29T09:30:01.000Z web.1[v7]: after")
        daemon.notify("logs.line", newer)
        await until(pilot, lambda: view.received == 2)
        assert list(view.buffer) == [line.line, newer.line], "resumed without repeating"


@pytest.mark.asyncio
async def test_the_palette_and_the_keys_panel(daemon: CannedDaemon) -> None:
    app = DeploydApp(daemon.path)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_shop(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Deploy", "Roll back", "Edit env", "Databases", "Light/dark theme"):
            assert title in titles
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("escape")
        await pilot.press("question_mark")
        await until(pilot, lambda: bool(app.screen.query(HelpPanel)))
        await pilot.press("question_mark")
        await until(pilot, lambda: not app.screen.query(HelpPanel))


@pytest.mark.asyncio
async def test_a_viewer_is_offered_no_action_that_changes_anything(
    viewer_daemon: CannedDaemon,
) -> None:
    app = DeploydApp(viewer_daemon.path)
    async with app.run_test(size=(120, 40)) as pilot:
        await on_shop(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Databases" in titles and "Dashboard" in titles
        for title in ("Deploy", "Roll back", "Restart", "Edit env", "New app", "New database"):
            assert title not in titles
