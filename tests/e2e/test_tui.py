"""`deployctl tui` driven with Textual's Pilot against a running daemon, as a person would:
the wizards, the tabs, the database manager, events arriving without a key press, a
viewer's screens, and a log flood the viewer must survive."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, RichLog, Static

from deployctl.tui.app import DeploydApp
from deployctl.tui.databases import DatabaseManager
from deployctl.tui.deploying import DeployScreen
from deployctl.tui.detail import AppDetail, ReleasesTab
from deployctl.tui.explorer import Explorer
from deployctl.tui.logview import BUFFER, LINE_CHARS, SHOWN, LogView
from deployctl.tui.modals import AttachDomain, Confirm, EditEnv, NewApp, NewDatabase
from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, serve, world_readable_tempdir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHATTY = Path(__file__).resolve().parents[1] / "support" / "apps" / "chatty"

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def platform(pg_cluster: PrivateCluster, apps_pg: PrivateCluster) -> Iterator[RunningDaemon]:
    """A daemon with a server for the apps' databases and a host sample every second."""
    pg_cluster.ensure_database("e2e_tui")
    env = {
        "DEPLOYD_APPS_DATABASE_URL": apps_pg.conninfo("postgres"),
        "DEPLOYD_HOST_SAMPLE_SECONDS": "1",
    }
    try:
        with serve(pg_cluster.conninfo("e2e_tui"), env) as running:
            yield running
    finally:
        pg_cluster.drop_database("e2e_tui")


def plain(renderable: Any) -> str:
    """What a widget shows, as text."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def shown(widget: Static) -> str:
    return plain(widget.content)


async def until(pilot: Pilot[Any], ready: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until `ready()`; fail with the time it took otherwise."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout} s")
        await pilot.pause(0.05)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def source_of(example: Path) -> Iterator[Path]:
    root = world_readable_tempdir("deployd-tui-")
    source = root / "app"
    shutil.copytree(example, source)
    source.chmod(0o755)
    yield source
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def hello() -> Iterator[Path]:
    yield from source_of(EXAMPLES / "hello")


@pytest.fixture
def deployed(platform: RunningDaemon, hello: Path) -> Iterator[str]:
    """An app created and deployed with the CLI, under a name of its own."""
    name = f"tui{time.monotonic_ns() % 10**8}"
    ok(platform.deployctl("apps", "create", name, "--path", str(hello)))
    ok(platform.deployctl("deploy", name))
    yield name
    platform.deployctl("apps", "delete", name, "--yes")


def live_release(platform: RunningDaemon, name: str) -> int | None:
    info = json.loads(ok(platform.deployctl("apps", "show", name, "--json")).stdout)
    release: int | None = info["live_release"]
    return release


async def started(pilot: Pilot[Any]) -> DeploydApp:
    app = pilot.app
    assert isinstance(app, DeploydApp)
    await until(pilot, lambda: app.ready)
    return app


async def open_app(pilot: Pilot[Any], name: str, tab: str = "overview") -> AppDetail:
    app = await started(pilot)
    await until(pilot, lambda: name in app.state.apps)
    explorer = app.main.query_one(Explorer)  # type: ignore[union-attr]
    explorer.select(name)
    await until(pilot, lambda: app.shown_app == name and app._detail() is not None)
    await pilot.press(str(1 + ("overview", "domains", "env", "releases", "logs").index(tab)))
    detail = app._detail()
    assert detail is not None
    await until(pilot, lambda: detail.active == tab)
    return detail


async def test_the_new_app_wizard_checks_as_you_type_creates_and_deploys(
    platform: RunningDaemon, hello: Path
) -> None:
    async with DeploydApp(platform.socket).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewApp))
        await pilot.press(*"Shop_1")
        error = app.screen.query_one("#form-error", Static)
        assert "lowercase letters, digits and dashes" in shown(error)
        await pilot.click("#ok")
        assert isinstance(app.screen, NewApp), "an invalid form must not be sent"
        name_field = app.screen.query_one("#name", Input)
        name_field.value = ""
        name_field.focus()
        await pilot.press(*"tuiwizard")
        app.screen.query_one("#source", Input).value = str(hello)
        await pilot.pause()
        assert shown(error).strip() == ""
        await pilot.click("#ok")
        await until(pilot, lambda: "tuiwizard" in app.state.apps)
        await until(pilot, lambda: app.shown_app == "tuiwizard")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployScreen))
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        await until(pilot, lambda: screen.outcome is not None, timeout=120)
        assert screen.outcome == "succeeded"
        steps = "\n".join(line.text for line in screen.query_one("#deploy-steps", RichLog).lines)
        assert "switching nginx" in steps and "is live at" in steps
        await pilot.press("escape")
        await until(pilot, lambda: app.state.apps["tuiwizard"].live_release == 1)
    status, _, _ = fetch(platform, "tuiwizard")
    assert status == 200
    ok(platform.deployctl("apps", "delete", "tuiwizard", "--yes"))


async def test_a_deploy_started_elsewhere_shows_without_a_key_press(
    platform: RunningDaemon, deployed: str
) -> None:
    async with DeploydApp(platform.socket).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await until(pilot, lambda: app.state.apps[deployed].live_release == 1)
        cli = asyncio.create_task(asyncio.to_thread(platform.deployctl, "deploy", deployed))
        await until(pilot, lambda: app.state.apps[deployed].live_release == 2, timeout=120)
        ok(await cli)
        entry = app.main.query_one(Explorer).options  # type: ignore[union-attr]
        listed = [plain(entry.get_option_at_index(i).prompt) for i in range(entry.option_count)]
        assert any(deployed in text and "v2" in text and "live" in text for text in listed)
        feed = app.main.query_one("#feed", DataTable)  # type: ignore[union-attr]
        kinds = [str(feed.get_row_at(row)[1]) for row in range(feed.row_count)]
        assert "deploy.live" in kinds


async def test_env_is_edited_in_one_config_release_and_masked_while_typed(
    platform: RunningDaemon, deployed: str
) -> None:
    secret = "sk_live_tui_0123456789"
    async with DeploydApp(platform.socket).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await open_app(pilot, deployed, "env")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditEnv))
        form = app.screen
        form.query_one("#name-1", Input).value = "API_TOKEN"
        value = form.query_one("#value-1", Input)
        assert value.password, "values are masked while typed"
        value.value = secret
        await pilot.click("#more")
        await until(pilot, lambda: bool(form.query("#name-2")))
        form.query_one("#name-2", Input).value = "MODE"
        form.query_one("#value-2", Input).value = "tui"
        await pilot.pause()
        await pilot.click("#ok")
        await until(pilot, lambda: not isinstance(app.screen, EditEnv))
        await until(pilot, lambda: live_release(platform, deployed) == 2, timeout=60)
        table = app.main.query_one("#env-table", DataTable)  # type: ignore[union-attr]
        await until(pilot, lambda: table.row_count == 2)
        cells = [str(cell) for row in range(table.row_count) for cell in table.get_row_at(row)]
        assert "API_TOKEN" in cells and secret not in cells, "listed masked"
        await pilot.press("s")
        await until(pilot, lambda: secret in [str(table.get_row_at(r)[1]) for r in range(2)])
    listed = json.loads(ok(platform.deployctl("env", "list", deployed, "--json")).stdout)
    assert {var["name"] for var in listed["vars"]} == {"API_TOKEN", "MODE"}
    assert listed["version"] == 1, "both changes made one config version"


async def test_a_domain_is_attached_without_the_dns_check(
    platform: RunningDaemon, deployed: str
) -> None:
    domain = f"{deployed}.tui.test"
    async with DeploydApp(platform.socket).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await open_app(pilot, deployed, "domains")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AttachDomain))
        app.screen.query_one("#domain", Input).value = domain
        app.screen.query_one("#verify", Checkbox).value = False
        await pilot.pause()
        await pilot.click("#ok")
        table = app.main.query_one("#domains-table", DataTable)  # type: ignore[union-attr]
        await until(pilot, lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[0]) == domain
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        assert domain in shown(app.screen.query_one("#confirm-what", Static))
        await pilot.press("y")
        await until(pilot, lambda: table.row_count == 0)
    listed = json.loads(ok(platform.deployctl("domains", "list", deployed, "--json")).stdout)
    assert listed["domains"] == []


async def test_rollback_from_the_releases_tab_to_the_chosen_release(
    platform: RunningDaemon, deployed: str
) -> None:
    ok(platform.deployctl("deploy", deployed))
    ok(platform.deployctl("deploy", deployed))
    async with DeploydApp(platform.socket).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await open_app(pilot, deployed, "releases")
        tab = app.main.query_one(ReleasesTab)  # type: ignore[union-attr]
        table = tab.query_one("#releases-table", DataTable)
        await until(pilot, lambda: table.row_count == 3)
        table.focus()
        await pilot.press("down", "down")
        assert tab.selected == 1
        await pilot.press("b")
        log = tab.query_one("#build-log", RichLog)
        await until(pilot, lambda: not log.has_class("hidden"))
        assert "build log of v1" in log.lines[0].text
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "v1" in shown(app.screen.query_one("#confirm-what", Static))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, DeployScreen))
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        await until(pilot, lambda: screen.outcome is not None, timeout=60)
        assert screen.outcome == "succeeded"
    assert live_release(platform, deployed) == 1


async def test_a_viewer_sees_the_screens_without_the_actions(
    platform: RunningDaemon, deployed: str
) -> None:
    add = platform.deployctl(
        "users", "add", "tuiviewer", "--role", "viewer", "--password-stdin", input="pw-0123456789\n"
    )
    assert add.returncode == 0 or "exists" in add.stderr, add.stderr
    made = json.loads(ok(platform.deployctl("users", "token", "tuiviewer", "--json")).stdout)
    async with DeploydApp(platform.socket, made["token"]).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        assert app.state.role.value == "viewer"
        await open_app(pilot, deployed, "overview")
        for action in ("deploy", "rollback", "restart", "new_app", "edit_env", "databases"):
            allowed = app.check_action(action, ())
            assert (allowed is True) == (action == "databases"), action
        await pilot.press("d")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, DeployScreen)
        footer = [key for key, binding in app.screen.active_bindings.items() if binding.enabled]
        assert "d" not in footer and "n" not in footer


async def test_the_database_manager_creates_backs_up_and_reveals(
    platform: RunningDaemon, deployed: str
) -> None:
    database = f"{deployed}db"
    async with DeploydApp(platform.socket).run_test(size=(140, 45)) as pilot:
        app = await started(pilot)
        await open_app(pilot, deployed)
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DatabaseManager))
        manager = app.screen
        assert isinstance(manager, DatabaseManager)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, NewDatabase))
        app.screen.query_one("#name", Input).value = database
        app.screen.query_one("#app").value = deployed  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.click("#ok")
        dbs = manager.query_one("#dbs", DataTable)
        await until(pilot, lambda: dbs.row_count >= 1 and manager.selected is not None, 60)
        assert manager.selected is not None and manager.selected.name == database
        await pilot.press("b")
        backups = manager.query_one("#backups", DataTable)
        await until(pilot, lambda: backups.row_count == 1, timeout=60)
        await until(pilot, lambda: "verified" in str(backups.get_row_at(0)[2]))
        facts = manager.query_one("#db-facts", Static)
        assert "s reveals" in shown(facts)
        await pilot.press("s")
        revealed = json.loads(
            ok(platform.deployctl("db", "show", database, "--reveal", "--json")).stdout
        )
        await until(pilot, lambda: revealed["password"] in shown(facts))
        await pilot.press("d")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, Confirm), "a linked database is not offered a drop"
    env = json.loads(ok(platform.deployctl("env", "list", deployed, "--json")).stdout)
    assert "DATABASE_URL" in {var["name"] for var in env["vars"]}
    ok(platform.deployctl("db", "unlink", database, deployed))
    ok(platform.deployctl("db", "drop", database, "--yes"))


@pytest.fixture
def chatty(platform: RunningDaemon) -> Iterator[str]:
    for source in source_of(CHATTY):
        name = f"chatty{time.monotonic_ns() % 10**6}"
        ok(platform.deployctl("apps", "create", name, "--path", str(source)))
        ok(platform.deployctl("deploy", name))
        yield name
        platform.deployctl("apps", "delete", name, "--yes")


async def test_a_flood_of_lines_and_a_megabyte_line_do_not_freeze_the_log_viewer(
    platform: RunningDaemon, chatty: str
) -> None:
    flood = 100_000
    async with DeploydApp(platform.socket).run_test(size=(120, 40)) as pilot:
        app = await started(pilot)
        await open_app(pilot, chatty, "logs")
        await until(pilot, lambda: bool(app.main.query(LogView)))  # type: ignore[union-attr]
        view = app.main.query_one(LogView)  # type: ignore[union-attr]
        await until(pilot, lambda: view.link.value == "live")
        before = view.received
        asked = asyncio.create_task(
            asyncio.to_thread(fetch, platform, chatty, f"/flood?lines={flood}&long=1048576")
        )
        await until(pilot, lambda: view.received > before + 1000, timeout=60)
        view.lines.focus()
        await pilot.press("f")  # keys are handled while the flood arrives
        assert not view.follow
        await pilot.press("f")
        assert view.follow
        await until(pilot, lambda: any("flood done" in line for line in view.buffer), 120)
        await asked
        assert view.received - before >= flood + 2
        assert len(view.buffer) <= BUFFER
        assert len(view.lines.lines) <= SHOWN + 100  # wrapped lines aside, bounded
        longest = max(len(line) for line in view.buffer)
        assert longest > 4 * LINE_CHARS, "the buffer keeps lines as the log has them"
        drawn = [strip.text for strip in view.lines.lines]
        assert any("more characters]" in text for text in drawn), "drawn cut"
        view.only = "flood line 9999"
        view.repaint()
        drawn = [strip.text for strip in view.lines.lines]
        assert drawn and all("flood line 9999" in text for text in drawn)
