"""The TUI's frame: the explorer on the left, the dashboard or an app on the right.

At start one `system.snapshot` call fills the state; from then on a single event
subscription keeps it current (the few calls after an event ask for exactly what it
changed). Nothing polls: an idle screen waits on a socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Header, HelpPanel, Static

from deployd.protocol.apps import (
    AppInfo,
    AppParams,
    AppsRestartParams,
    DeploysRollbackParams,
    DeploysStartParams,
    JobInfo,
    ReleaseInfo,
)
from deployd.protocol.domains import DomainParams
from deployd.protocol.errors import ErrorKind, RpcError
from deployd.protocol.events import Event, EventsSubscribeParams, EventType
from deployd.protocol.snapshot import SnapshotResult
from deployd.protocol.stats import StatsParams, StatsResult

from ..aio import AsyncClient, Backoff, Link
from ..client import DaemonUnreachable
from ..state import State
from ..terminal import terminal_safe, text
from .daemon import Daemon
from .dashboard import Dashboard
from .databases import DatabaseManager
from .deploying import DeployScreen
from .detail import TABS, AppDetail, DomainsTab, EnvTab, ReleasesTab
from .explorer import Explorer
from .modals import AttachDomain, Choose, Confirm, EditEnv, NewApp, NewDatabase, Sender

CHOICE_SECONDS = 0.15
TRAFFIC_SECONDS = 60.0
PAINTED_KEPT = 10_000
SUBSCRIBED = sorted({kind.split(".")[0] for kind in EventType})
"""Every family of events, `host` (the samples) included: host samples reach only
subscribers that ask for them."""

ACTIONS: dict[str, tuple[str, str, str | None]] = {
    # action: (title, help, the method it needs)
    "dashboard": ("Dashboard", "host, traffic, apps by state, activity", None),
    "new_app": ("New app", "create an app (name, source, runtime)", "apps.create"),
    "deploy": ("Deploy", "deploy the chosen app and follow it", "deploys.start"),
    "rollback": (
        "Roll back",
        "to the release chosen in Releases, or the one before",
        "deploys.rollback",
    ),
    "restart": ("Restart", "restart the chosen app's processes", "apps.restart"),
    "edit_env": ("Edit env", "set and remove variables: one config release", "env.set"),
    "reveal_env": ("Reveal env", "show the chosen app's values unmasked", "env.reveal"),
    "attach_domain": ("Attach domain", "attach a domain to the chosen app", "domains.attach"),
    "verify_domain": ("Verify domain", "what DNS says of the chosen domain", "domains.verify"),
    "detach_domain": ("Detach domain", "detach the chosen domain", "domains.detach"),
    "create_database": ("New database", "create a database and link it", "databases.create"),
    "databases": ("Databases", "the database manager", None),
    "build_log": ("Build log", "the chosen release's build output", None),
    "toggle_dark": ("Light/dark theme", "switch between the light and dark theme", None),
}


class Main(Screen[None]):
    AUTO_FOCUS = "#apps"

    def __init__(self, daemon: Daemon, state: State) -> None:
        super().__init__()
        self.daemon = daemon
        self.state = state

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Explorer(self.state, id="explorer")
            with ContentSwitcher(initial="dashboard", id="content"):
                yield Dashboard(self.state, id="dashboard")
                yield Vertical(id="detail")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        """The explorer takes a third of a narrow terminal, at most 38 columns of a wide one."""
        self.query_one(Explorer).styles.width = max(24, min(38, event.size.width // 3))


class DeploydApp(App[None]):
    CSS_PATH = "tui.tcss"
    TITLE = "deployd"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "toggle_help", "Keys"),
        Binding("escape", "dashboard", "Dashboard", show=False),
        Binding("ctrl+f", "find", "Filter", show=False),
        Binding("n", "new_app", "New app"),
        Binding("d", "deploy", "Deploy"),
        Binding("r", "rollback", "Rollback"),
        Binding("R", "restart", "Restart"),
        Binding("e", "edit_env", "Env", show=False),
        Binding("s", "reveal_env", "Reveal", show=False),
        Binding("a", "attach_domain", "Attach", show=False),
        Binding("v", "verify_domain", "Verify", show=False),
        Binding("x", "detach_domain", "Detach", show=False),
        Binding("b", "build_log", "Build log", show=False),
        Binding("c", "create_database", "New db", show=False),
        Binding("D", "databases", "Databases"),
        Binding("ctrl+t", "toggle_dark", "Theme", show=False),
        *(
            Binding(str(number), f"tab('{name}')", name.title(), show=False)
            for number, name in enumerate(TABS, 1)
        ),
    ]

    def __init__(self, socket: Path, token: str | None = None) -> None:
        super().__init__()
        self.daemon = Daemon(socket, token)
        self.state = State()
        self.link = Link.CONNECTING
        self.shown_app: str | None = None
        self.painted: dict[int, float] = {}
        """When each event was on the screen (wall clock, as `Event.at`), for bench/tui.py."""
        self._feed_due = False
        self._feed_events: list[int] = []
        """Events the feed's next repaint puts on the screen."""
        self._traffic_at = time.monotonic()
        self._choice: Timer | None = None
        self._showing = asyncio.Lock()
        self._asked: dict[str, int] = {}
        self._applied: dict[str, int] = {}
        self.ready = False
        """The snapshot is on the screen."""

    def on_mount(self) -> None:
        self.sub_title = "connecting…"
        self.start()

    def compose(self) -> ComposeResult:
        yield Static("asking deployd for its state…", id="loading")

    @work(exclusive=True, group="start")
    async def start(self) -> None:
        """The snapshot, asked again with back-off while the daemon is away; a refusal
        (a bad token) ends the TUI with its reason."""
        delays = Backoff().delays()
        while True:
            try:
                snapshot: SnapshotResult = await self.daemon.call("system.snapshot")
                break
            except RpcError as exc:
                self.exit(return_code=1, message=f"deployctl tui: {terminal_safe(str(exc))}")
                return
            except DaemonUnreachable as exc:
                delay = next(delays)
                self.sub_title = "not connected"
                self.query_one("#loading", Static).update(
                    text(f"deployctl tui: {exc}; trying again in {delay:.0f} s (q quits)")
                )
                await asyncio.sleep(delay)
        self.state = State.from_snapshot(snapshot)
        await self.push_screen(Main(self.daemon, self.state))
        self.sub_title = (
            f"{self.state.user} ({self.state.role.value}) · deployd {self.state.version}"
        )
        self.explorer.refresh_apps()
        self.follow_events()
        self.ready = True

    @property
    def explorer(self) -> Explorer:
        main = self.main
        if main is None:
            raise LookupError("the main screen is not up (yet, or any more)")
        return main.query_one(Explorer)

    def _apps_changed(self) -> None:
        """Repaint what lists apps (the explorer, the dashboard's counts), if it is up."""
        if self.main is None:
            return
        self.explorer.refresh_apps()
        dashboard = self._in_main("#dashboard", Dashboard)
        if dashboard is not None:
            dashboard.refresh_apps()

    @property
    def main(self) -> Main | None:
        for screen in self.screen_stack:
            if isinstance(screen, Main):
                return screen
        return None

    def _in_main(self, selector: str, kind: type[Any]) -> Any:
        main = self.main
        try:
            return main.query_one(selector, kind) if main is not None else None
        except NoMatches:  # the screen is coming down (the app is leaving)
            return None

    # events

    @work(exclusive=True, group="events", exit_on_error=False)
    async def follow_events(self) -> None:
        """Ends the TUI, with the daemon's words, only when the daemon refuses it (a token
        revoked meanwhile); a connection that drops comes back by itself."""
        try:
            async for item in self.daemon.stream(self._subscribe, self._on_link):
                try:
                    event = Event.model_validate(item)
                except ValidationError:
                    continue  # an event this client cannot read: the feed goes without it
                self.on_daemon_event(event)
        except RpcError as exc:
            self.exit(return_code=1, message=f"deployctl tui: {terminal_safe(str(exc))}")

    async def _subscribe(self, client: AsyncClient) -> AsyncIterator[dict[str, Any]]:
        asked = EventsSubscribeParams(kinds=SUBSCRIBED, after_id=self.state.last_event_id)
        _, items = await client.stream("events.subscribe", asked)
        return items

    def _on_link(self, link: Link, reason: str | None) -> None:
        self.link = link
        if link is Link.RECONNECTING:
            self.sub_title = f"disconnected — reconnecting ({terminal_safe(reason or '')})"
        elif link is Link.LIVE and self.state.user:
            self.sub_title = (
                f"{self.state.user} ({self.state.role.value}) · deployd {self.state.version}"
            )

    def on_daemon_event(self, event: Event) -> None:
        change = self.state.apply(event)
        dashboard = self._in_main("#dashboard", Dashboard)
        if dashboard is None:
            return
        if change.host:
            dashboard.refresh_host()
            if time.monotonic() - self._traffic_at >= TRAFFIC_SECONDS:
                self._traffic_at = time.monotonic()
                self.refetch_traffic()
        if change.feed and event.id:
            self._feed_events.append(event.id)
        if change.feed and not self._feed_due:
            self._feed_due = True
            self.set_timer(0.05, self._repaint_feed)
        if change.badge_of or change.removed_app:
            self._apps_changed()
        if change.removed_app and self.shown_app == change.removed_app:
            self.action_dashboard()
        if change.refetch_app:
            self.refetch(change.refetch_app, event.id)
        if change.databases:
            self.refetch_databases()

    def _repaint_feed(self) -> None:
        self._feed_due = False
        dashboard = self._in_main("#dashboard", Dashboard)
        if dashboard is not None:
            dashboard.refresh_feed()
        for event_id in self._feed_events:
            self._painted(event_id)
        self._feed_events.clear()

    def _painted(self, event_id: int) -> None:
        """An event's change is on the screen: the later of its repaints (the feed's, a
        refetch's) counts."""
        self.painted[event_id] = max(self.painted.get(event_id, 0.0), time.time())
        if len(self.painted) > PAINTED_KEPT:  # a TUI left open for weeks stays small
            for old in sorted(self.painted)[: len(self.painted) - PAINTED_KEPT]:
                del self.painted[old]

    @work(group="refetch")
    async def refetch(self, name: str, event_id: int) -> None:
        """One `apps.show`; an answer older than one already applied is dropped (calls
        share a connection and may be answered out of order)."""
        asked = self._asked[name] = self._asked.get(name, 0) + 1
        try:
            app: AppInfo = await self.daemon.call("apps.show", AppParams(name=name))
        except RpcError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                return
            self.state.apps.pop(name, None)  # deleted meanwhile: its app.deleted follows
        except DaemonUnreachable:
            return
        else:
            if asked < self._applied.get(name, 0):
                return
            self._applied[name] = asked
            self.state.apps[name] = app
        self._apps_changed()
        if self.shown_app == name:
            detail = self._detail()
            if detail is not None:
                detail.changed()
        self._painted(event_id)

    @work(exclusive=True, group="traffic")
    async def refetch_traffic(self) -> None:
        """The apps' last hour, asked again with a host sample at most once a minute (the
        samples carry the rate, not the hour's count)."""
        try:
            result: StatsResult = await self.daemon.call("stats.show", StatsParams(since="1h"))
        except (RpcError, DaemonUnreachable):
            return
        self.state.traffic = {stats.app: stats for stats in result.apps}
        dashboard = self._in_main("#dashboard", Dashboard)
        if dashboard is not None:
            dashboard.refresh_apps()

    @work(exclusive=True, group="databases")
    async def refetch_databases(self) -> None:
        try:
            result = await self.daemon.call("databases.list")
        except (RpcError, DaemonUnreachable):
            return
        self.state.databases = result.databases
        for screen in self.screen_stack:
            if isinstance(screen, DatabaseManager):
                screen.reload()

    # navigation

    def on_explorer_chosen(self, message: Explorer.Chosen) -> None:
        """Shown after a short pause: running down a long list of apps builds one detail,
        not one per app passed."""
        if message.name is None:
            return
        if self._choice is not None:
            self._choice.stop()
        name, focus = message.name, message.enter
        if focus:
            self._show(name, focus=True)
        elif name != self.shown_app:
            self._choice = self.set_timer(CHOICE_SECONDS, lambda: self._show(name))

    def _show(self, name: str, *, focus: bool = False) -> None:
        """One detail being built at a time: a later choice replaces an earlier one."""
        self.run_worker(self.show_app(name, focus=focus), group="show", exclusive=True)

    async def show_app(self, name: str, *, focus: bool = False) -> None:
        """Build `name`'s detail (once: a detail being built is waited for, not built again
        beside it)."""
        holder = self._in_main("#detail", Vertical)
        if holder is None:
            return
        async with self._showing:
            if self.shown_app != name or not holder.children:
                self.shown_app = name
                await holder.remove_children()
                await holder.mount(AppDetail(self.daemon, self.state, name))
        self._in_main("#content", ContentSwitcher).current = "detail"
        if focus:
            self._detail().focus_body()  # type: ignore[union-attr]

    def _detail(self) -> AppDetail | None:
        main = self.main
        if main is None:
            return None
        found = main.query(AppDetail)
        return found.first() if found else None

    def action_dashboard(self) -> None:
        switcher = self._in_main("#content", ContentSwitcher)
        if switcher is not None:
            switcher.current = "dashboard"
            self.shown_app = None
            self._in_main("#detail", Vertical).remove_children()
            self.explorer.options.focus()

    async def action_tab(self, name: str) -> None:
        """Keys 1 to 7: that tab of the chosen app, wherever the focus is."""
        if self.chosen is None:
            return
        await self.show_app(self.chosen)
        detail = self._detail()
        if detail is not None:
            detail.action_tab(name)

    def action_find(self) -> None:
        """ctrl+f wherever the focus is: the feed's filter on the dashboard (the log viewer
        and other views answer it themselves when they have the focus)."""
        switcher = self._in_main("#content", ContentSwitcher)
        if switcher is not None and switcher.current == "dashboard":
            self._in_main("#dashboard", Dashboard).action_filter_feed()

    def action_toggle_help(self) -> None:
        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    # actions (a viewer is offered none that change anything)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "databases" and isinstance(self.screen, DatabaseManager):
            return False
        spec = ACTIONS.get(action)
        if spec is None or spec[2] is None:
            return True
        if not self.state.may(spec[2]):
            return False
        needs_app = action not in ("new_app", "create_database")
        return None if needs_app and self.chosen is None else True

    @property
    def chosen(self) -> str | None:
        if self.shown_app:
            return self.shown_app
        main = self.main
        return main.query_one(Explorer).selected if main is not None else None

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, (title, help, _method) in ACTIONS.items():
            if self.check_action(action, ()):
                yield SystemCommand(title, help, getattr(self, f"action_{action}"))

    def _sender(self, method: str) -> Sender:
        """What a form sends its params with: the daemon's refusal stays in the form."""

        async def send(params: BaseModel) -> Any:
            return await self.daemon.call(method, params)

        return send

    def notify(self, message: str, **options: Any) -> None:
        """Every notice is plain text: messages quote names and errors the daemon was sent."""
        options["markup"] = False
        super().notify(terminal_safe(message), **options)

    async def _call(self, method: str, params: Any, done: str | None = None) -> Any:
        try:
            result = await self.daemon.call(method, params)
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), title=f"{method} failed", severity="error", timeout=10)
            return None
        if done:
            self.notify(done)
        return result

    @work
    async def action_new_app(self) -> None:
        app: AppInfo | None = await self.push_screen_wait(NewApp(self._sender("apps.create")))
        if app is not None:
            self.notify(f"created {app.name}")
            self.state.apps[app.name] = app
            self.explorer.refresh_apps()
            self.explorer.select(app.name)
            await self.show_app(app.name)

    @work
    async def action_deploy(self) -> None:
        name = self.chosen
        if name is None:
            return
        job = await self._call("deploys.start", DeploysStartParams(app=name))
        if job is not None:
            await self.push_screen(DeployScreen(self.daemon, job))

    @work
    async def action_rollback(self) -> None:
        name = self.chosen
        if name is None:
            return
        detail = self._detail()
        chosen: ReleaseInfo | None = None
        if detail is not None and detail.active == "releases":
            chosen = detail.query_one(ReleasesTab).chosen
            if chosen is not None and not chosen.kept:
                self.notify(f"v{chosen.version}'s build is no longer kept: deploy it again")
                return
        env = await self._call("env.list", {"app": name})
        if env is None:
            return
        target = f"v{chosen.version}" if chosen else "the release live before this one"
        what = (
            f"Roll {name} back to {target}?\n\nIts kept build starts in the idle slot and "
            "takes over once healthy; nothing is rebuilt."
        )
        choices = [("then", "Roll back")]
        if chosen is None or chosen.env_version != env.version:
            then = f"config v{chosen.env_version}" if chosen and chosen.env_version else "its"
            what += (
                f"\n\nIt runs with the config it ran with ({then}; today's is config "
                f"v{env.version or 0}): variables set or changed since are undone. "
                "Keep today's config to roll back the code only."
            )
            choices = [("then", "Roll back, its config"), ("today", "Keep today's config")]
        answer = await self.push_screen_wait(Choose(what, choices))
        if answer is None:
            return
        asked = DeploysRollbackParams(
            app=name, to=chosen.version if chosen else None, keep_env=answer == "today"
        )
        job: JobInfo | None = await self._call("deploys.rollback", asked)
        if job is not None:
            await self.push_screen(DeployScreen(self.daemon, job))

    @work
    async def action_restart(self) -> None:
        name = self.chosen
        if name is None:
            return
        what = (
            f"Restart every process of {name}?\n\nWeb processes restart one at a time behind nginx."
        )
        if not await self.push_screen_wait(Confirm(what, action="Restart")):
            return
        job = await self._call("apps.restart", AppsRestartParams(app=name))
        if job is not None:
            await self.push_screen(DeployScreen(self.daemon, job))

    @work
    async def action_edit_env(self) -> None:
        name = self.chosen
        if name is None:
            return
        current = await self._call("env.list", {"app": name})
        if current is None:
            return
        names = [var.name for var in current.vars]
        result = await self.push_screen_wait(EditEnv(name, names, self._sender("env.set")))
        if result is not None:
            follows = " (a config release follows)" if result.job else ""
            self.notify(f"{name}: config v{result.version}{follows}")
            self._reload_tab(EnvTab)

    def action_reveal_env(self) -> None:
        detail = self._detail()
        if detail is None:
            return
        detail.action_tab("env")
        tab = detail.query_one(EnvTab)
        tab.revealed = not tab.revealed
        tab.reload()

    @work
    async def action_attach_domain(self) -> None:
        name = self.chosen
        if name is None:
            return
        attached = await self.push_screen_wait(AttachDomain(name, self._sender("domains.attach")))
        if attached is not None:
            self.notify(f"{attached.domain} attached to {name}")
            self._reload_tab(DomainsTab)

    def _chosen_domain(self) -> str | None:
        detail = self._detail()
        if detail is None or detail.active != "domains":
            self.notify("choose a domain in the app's Domains tab first")
            return None
        chosen = detail.query_one(DomainsTab).selected
        if chosen is None:
            self.notify(f"{self.chosen} has no domains yet: `a` attaches one")
        return chosen

    @work
    async def action_verify_domain(self) -> None:
        domain = self._chosen_domain()
        if domain is None or self.chosen is None:
            return
        result = await self._call("domains.verify", DomainParams(app=self.chosen, domain=domain))
        if result is not None:
            said = ", ".join(result.addresses) or "no addresses"
            self.notify(
                f"{domain}: {result.detail} (DNS says {said})",
                severity="information" if result.ok else "warning",
                timeout=15,
            )
            self._reload_tab(DomainsTab)

    @work
    async def action_detach_domain(self) -> None:
        domain = self._chosen_domain()
        name = self.chosen
        if domain is None or name is None:
            return
        what = (
            f"Detach {domain} from {name}?\n\nnginx stops answering for it at once; "
            "attaching it again later starts over (DNS check, certificate)."
        )
        if await self.push_screen_wait(Confirm(what, action="Detach")):
            await self._call(
                "domains.detach", DomainParams(app=name, domain=domain), f"{domain} detached"
            )
            self._reload_tab(DomainsTab)

    def action_build_log(self) -> None:
        detail = self._detail()
        if detail is not None and detail.active == "releases":
            detail.query_one(ReleasesTab).show_build_log()

    @work
    async def action_create_database(self) -> None:
        form = NewDatabase(sorted(self.state.apps), self.chosen, self._sender("databases.create"))
        made = await self.push_screen_wait(form)
        if made is not None:
            linked = ", ".join(link.app for link in made.links)
            self.notify(f"created {made.name}" + (f", linked to {linked}" if linked else ""))

    def action_databases(self) -> None:
        self.push_screen(DatabaseManager(self.daemon, self.state))

    def _reload_tab(self, kind: type[Any]) -> None:
        detail = self._detail()
        if detail is not None:
            for tab in detail.query(kind):
                tab.reload()

    async def action_quit(self) -> None:
        await self.daemon.close()
        self.exit()


def run(socket: Path, token: str | None) -> int:
    """Runs the TUI; returns its exit status (1 when the daemon refused it)."""
    app = DeploydApp(socket, token)
    app.run()
    return app.return_code or 0
