"""An app in detail: one tab each for its overview, domains, env, releases, logs,
analytics and databases. A tab asks the daemon when it is shown and again when an event
about its app says it changed; nothing polls."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, RichLog, Sparkline, Static, TabbedContent, TabPane

from deployd.protocol.apps import (
    AppInfo,
    AppParams,
    AppsPsResult,
    LogsReadParams,
    LogsReadResult,
    ReleaseInfo,
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.databases import DbInfo
from deployd.protocol.domains import DomainsListParams, DomainsListResult
from deployd.protocol.env import EnvAppParams, EnvListResult
from deployd.protocol.errors import RpcError
from deployd.protocol.stats import StatsParams, StatsResult

from ..client import DaemonUnreachable
from ..state import BADGE_STYLE, State
from ..terminal import cell
from .daemon import Daemon
from .logview import LogView

TABS = ("overview", "domains", "env", "releases", "logs", "analytics", "database")


def when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "—"


def overview_panel(state: State, app: AppInfo, ps: AppsPsResult | None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    badge = state.badge(app.name)
    table.add_row("state", Text(badge.value, style=BADGE_STYLE[badge]))
    table.add_row("url", cell(app.url))
    table.add_row("release", f"v{app.live_release}" if app.live_release else "none yet")
    table.add_row("runtime", cell(app.runtime))
    branch = f" ({app.branch})" if app.branch else ""
    table.add_row("source", cell(f"{app.source_kind} {app.source}{branch}"))
    table.add_row("deploying", f"job {app.active_job}" if app.active_job else "no")
    for slot in app.slots:
        release = f"v{slot.release}" if slot.release else "—"
        table.add_row(f"slot {slot.name}", f"{slot.state}  {release}  port {slot.port}")
    if ps is not None:
        formation = ", ".join(f"{kind}={count}" for kind, count in ps.formation.items())
        table.add_row("formation", formation or "—")
    return table


class AppTab(Vertical):
    """A tab's body: `load()` asks the daemon for what it shows."""

    def __init__(self, daemon: Daemon, state: State, app_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.daemon = daemon
        self.state = state
        self.app_name = app_name

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="tab-load")
    async def _load(self) -> None:
        try:
            await self.load()
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), title=f"{self.app_name}: could not load", severity="error")

    async def load(self) -> None:
        raise NotImplementedError


class OverviewTab(AppTab):
    def compose(self) -> ComposeResult:
        yield Static(id="overview-facts")
        yield DataTable(id="processes", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#processes", DataTable).add_columns(
            "process", "state", "release", "pid", "cpu", "memory", "restarts", "last exit"
        )

    async def load(self) -> None:
        ps: AppsPsResult = await self.daemon.call("apps.ps", AppParams(name=self.app_name))
        app = self.state.apps.get(self.app_name)
        if app is None:
            return
        self.query_one("#overview-facts", Static).update(overview_panel(self.state, app, ps))
        table = self.query_one("#processes", DataTable)
        table.clear()
        for proc in ps.processes:
            table.add_row(
                proc.name,
                proc.state,
                f"v{proc.release}" if proc.release else "—",
                str(proc.pid or "—"),
                f"{proc.cpu_percent:.1f} %" if proc.cpu_percent is not None else "—",
                f"{proc.rss_bytes / 2**20:.0f} MiB" if proc.rss_bytes is not None else "—",
                str(proc.restarts),
                cell(proc.last_exit),
            )


class DomainsTab(AppTab):
    def compose(self) -> ComposeResult:
        yield DataTable(id="domains-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#domains-table", DataTable).add_columns(
            "domain", "url", "dns", "certificate", "last error"
        )

    async def load(self) -> None:
        result: DomainsListResult = await self.daemon.call(
            "domains.list", DomainsListParams(app=self.app_name)
        )
        table = self.query_one("#domains-table", DataTable)
        table.clear()
        for domain in result.domains:
            dns = "unchecked" if domain.dns_ok is None else ("ok" if domain.dns_ok else "wrong")
            cert = (
                f"{domain.issuer or '?'} until {when(domain.not_after)}" if domain.tls else "no TLS"
            )
            table.add_row(
                cell(domain.domain),
                cell(domain.url),
                cell(f"{dns} {domain.dns_detail or ''}".strip()),
                cell(cert),
                cell(domain.last_error),
                key=domain.domain,
            )

    @property
    def selected(self) -> str | None:
        table = self.query_one("#domains-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


class EnvTab(AppTab):
    revealed = False
    """Asked with `env.reveal` (audited) rather than `env.list`."""

    def compose(self) -> ComposeResult:
        yield Static(id="env-version")
        yield DataTable(id="env-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#env-table", DataTable).add_columns("name", "value")

    async def load(self) -> None:
        method = "env.reveal" if self.revealed else "env.list"
        result: EnvListResult = await self.daemon.call(method, EnvAppParams(app=self.app_name))
        staged = (
            f"  (v{result.version} staged: the live release runs v{result.live_version})"
            if result.version != result.live_version
            else ""
        )
        shown = "revealed" if result.revealed else "masked"
        self.query_one("#env-version", Static).update(
            Text(f"config v{result.version or 0}, {shown}{staged}", style="dim")
        )
        table = self.query_one("#env-table", DataTable)
        table.clear()
        for var in result.vars:
            table.add_row(cell(var.name), cell(var.value[:500]), key=var.name)


class ReleasesTab(AppTab):
    releases: list[ReleaseInfo] = []

    def compose(self) -> ComposeResult:
        yield DataTable(id="releases-table", cursor_type="row")
        yield RichLog(id="build-log", max_lines=5000, wrap=True, classes="hidden")

    def on_mount(self) -> None:
        self.query_one("#releases-table", DataTable).add_columns(
            "release", "status", "commit", "by", "created", "live at", "kept", "why"
        )

    async def load(self) -> None:
        result: ReleasesListResult = await self.daemon.call(
            "releases.list", ReleasesListParams(app=self.app_name)
        )
        self.releases = result.releases
        table = self.query_one("#releases-table", DataTable)
        table.clear()
        for release in result.releases:
            status = Text(
                release.status
                if release.status == "live" or not release.live
                else f"{release.status} (live)"
            )
            if release.live:
                status.stylize("green")
            elif release.status == "failed":
                status.stylize("red")
            table.add_row(
                f"v{release.version}",
                status,
                cell((release.commit or "")[:10]),
                cell(release.created_by),
                when(release.created_at),
                when(release.live_at),
                "yes" if release.kept else "",
                cell(release.error.splitlines()[0] if release.error else ""),
                key=str(release.version),
            )

    @property
    def selected(self) -> int | None:
        table = self.query_one("#releases-table", DataTable)
        if not table.row_count:
            return None
        return int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    @property
    def chosen(self) -> ReleaseInfo | None:
        version = self.selected
        return next((r for r in self.releases if r.version == version), None)

    @work(exclusive=True, group="build-log")
    async def show_build_log(self) -> None:
        version = self.selected
        if version is None:
            return
        log = self.query_one("#build-log", RichLog)
        try:
            result: LogsReadResult = await self.daemon.call(
                "logs.read", LogsReadParams(app=self.app_name, build=version, lines=2000)
            )
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), severity="error")
            return
        log.clear()
        log.write(Text(f"build log of v{version}", style="bold"))
        if not result.lines:
            log.write(Text("(the build printed nothing)", style="dim"))
        for line in result.lines:
            log.write(cell(line[:2000]))
        log.remove_class("hidden")


class AnalyticsTab(AppTab):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="analytics-totals")
            yield Static("requests per period, last 24 hours", classes="caption")
            yield Sparkline([], id="analytics-requests")
            yield Static("5xx per period", classes="caption", id="analytics-errors-caption")
            yield Sparkline([], id="analytics-errors")
            yield Static(id="analytics-paths")

    async def load(self) -> None:
        result: StatsResult = await self.daemon.call(
            "stats.show", StatsParams(app=self.app_name, since="24h", by="path", limit=10)
        )
        totals = result.apps[0].totals if result.apps else None
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold")
        facts.add_column()
        if totals is None:
            facts.add_row("traffic", "no requests in the last 24 hours")
        else:
            facts.add_row("requests", f"{totals.requests:,}")
            facts.add_row("visitors", f"{totals.visitors:,}")
            facts.add_row("5xx", f"{totals.errors_rate:.2%}")
            facts.add_row("p50 / p95", f"{totals.p50_ms or 0:.0f} / {totals.p95_ms or 0:.0f} ms")
        self.query_one("#analytics-totals", Static).update(facts)
        self.query_one("#analytics-requests", Sparkline).data = [p.requests for p in result.series]
        errors = [p.errors for p in result.series]
        # an all-zero series would be drawn as full bars: no errors is drawn as none
        self.query_one("#analytics-errors", Sparkline).data = errors if any(errors) else []
        caption = "5xx per period" if any(errors) else "5xx per period: none"
        self.query_one("#analytics-errors-caption", Static).update(caption)
        paths = Table("path", "requests", box=None)
        for entry in result.breakdown:
            paths.add_row(cell(entry.key), f"{entry.requests:,}")
        self.query_one("#analytics-paths", Static).update(paths)


class DatabaseTab(AppTab):
    def compose(self) -> ComposeResult:
        yield DataTable(id="app-databases", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#app-databases", DataTable).add_columns(
            "database", "as", "size", "last verified backup", "schedule"
        )

    async def load(self) -> None:
        table = self.query_one("#app-databases", DataTable)
        table.clear()
        for db in self.state.databases:
            for link in db.links:
                if link.app == self.app_name:
                    table.add_row(
                        db.name,
                        link.variable,
                        size(db),
                        when(db.last_verified_at),
                        db.schedule or "none",
                        key=db.name,
                    )


def size(db: DbInfo) -> str:
    if db.size_bytes is None:
        return "?"
    return f"{db.size_bytes / 2**20:.1f} MiB"


class AppDetail(Vertical):
    """The tabs of one app. Built again when another app is chosen."""

    def __init__(self, daemon: Daemon, state: State, app_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.daemon = daemon
        self.state = state
        self.app_name = app_name
        self.stale: set[str] = set(TABS)
        """Tabs to ask the daemon again when next shown: all of them at first, so browsing
        apps costs one tab's calls, not seven."""

    def compose(self) -> ComposeResult:
        args = (self.daemon, self.state, self.app_name)
        with TabbedContent(id="tabs"):
            with TabPane("Overview", id="overview"):
                yield OverviewTab(*args, id="tab-overview")
            with TabPane("Domains", id="domains"):
                yield DomainsTab(*args, id="tab-domains")
            with TabPane("Env", id="env"):
                yield EnvTab(*args, id="tab-env")
            with TabPane("Releases", id="releases"):
                yield ReleasesTab(*args, id="tab-releases")
            with TabPane("Logs", id="logs"):
                yield Vertical(id="logs-holder")
            with TabPane("Analytics", id="analytics"):
                yield AnalyticsTab(*args, id="tab-analytics")
            with TabPane("Database", id="database"):
                yield DatabaseTab(*args, id="tab-database")

    def action_tab(self, name: str) -> None:
        self.query_one("#tabs", TabbedContent).active = name

    def focus_body(self) -> None:
        """Focus the first thing in the tab in view that takes the keyboard."""
        pane = self.query_one(f"#{self.active}")
        for widget in pane.query("*"):
            if widget.focusable and not widget.has_class("hidden"):
                widget.focus()
                return

    @property
    def active(self) -> str:
        return self.query_one("#tabs", TabbedContent).active

    def on_mount(self) -> None:
        self.call_after_refresh(self._show_active)

    def _show_active(self, tries: int = 20) -> None:
        """The tab in view once the tabs are laid out (`active` is empty before)."""
        if self.active:
            self._show(self.active)
        elif tries:
            self.call_after_refresh(self._show_active, tries - 1)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._show(event.pane.id or "")

    def _show(self, name: str) -> None:
        if name in self.stale:
            self.stale.discard(name)
            for tab in self.query_one(f"#{name}").query(AppTab):
                tab.reload()
        if name == "logs" and not self.query(LogView):
            # the log stream opens when the tab is first shown, not for every app browsed
            self.query_one("#logs-holder").mount(LogView(self.daemon, self.app_name, id="logview"))

    def changed(self) -> None:
        """An event said this app changed: the tab in view asks again; the others do when
        they are next shown."""
        self.stale = set(TABS)
        if self.query("#tabs") and self.active:
            self._show(self.active)
