"""The dashboard: the host, traffic across apps, apps by state and the activity feed."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from deployd.protocol.events import Event

from ..state import BADGE_STYLE, Badge, State
from ..terminal import cell

GiB = 1024**3
FEED_SHOWN = 200


def host_panel(state: State) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    sample = state.host
    if sample is None:
        table.add_row("host", Text("waiting for the first sample (every 10 s)", style="dim"))
        return table
    memory = f"{sample.memory_used / GiB:.1f} of {sample.memory_total / GiB:.1f} GiB"
    table.add_row("cpu", f"{sample.cpu_percent:.0f} %")
    table.add_row("memory", memory)
    table.add_row("disk", f"{sample.disk_percent:.0f} % used")
    table.add_row("load", f"{sample.load1:.2f}")
    table.add_row("requests", f"{sample.requests_per_s:.1f}/s")
    errors = Text(f"{sample.errors_per_s:.1f}/s", style="red" if sample.errors_per_s else "")
    table.add_row("5xx", errors)
    return table


def apps_panel(state: State) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    counts = state.counts()
    table.add_row("apps", str(len(state.apps)))
    for badge in Badge:
        if counts[badge]:
            table.add_row(Text(badge.value, style=BADGE_STYLE[badge]), str(counts[badge]))
    requests = sum(stats.totals.requests for stats in state.traffic.values())
    table.add_row("requests, last hour", f"{requests:,}")
    return table


def feed_row(event: Event) -> tuple[Text, ...]:
    style = "red" if event.kind.endswith(("failed", "crashed", "crashlooping")) else ""
    return (
        Text(event.at.astimezone().strftime("%H:%M:%S")),
        cell(event.kind, style=style or "bold"),
        cell(event.app),
        cell(event.message),
    )


class Dashboard(Vertical):
    BINDINGS = [Binding("ctrl+f", "filter_feed", "Filter feed")]

    def __init__(self, state: State, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.narrow = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="dash-top"):
            yield Static(id="dash-host", classes="panel")
            yield Static(id="dash-apps", classes="panel")
        yield Input(
            placeholder="filter the feed (kind, app or words): ctrl+f",
            id="feed-filter",
            compact=True,
        )
        yield DataTable(id="feed", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#dash-host", Static).border_title = "host"
        self.query_one("#dash-apps", Static).border_title = "apps"
        feed = self.query_one("#feed", DataTable)
        feed.add_columns("time", "kind", "app", "what happened")
        self.refresh_all()

    def refresh_all(self) -> None:
        self.refresh_host()
        self.refresh_apps()
        self.refresh_feed()

    def refresh_host(self) -> None:
        self.query_one("#dash-host", Static).update(host_panel(self.state))

    def refresh_apps(self) -> None:
        self.query_one("#dash-apps", Static).update(apps_panel(self.state))

    def refresh_feed(self) -> None:
        feed = self.query_one("#feed", DataTable)
        feed.clear()
        for event in self.state.filtered_feed(self.narrow)[:FEED_SHOWN]:
            feed.add_row(*feed_row(event))

    def action_filter_feed(self) -> None:
        self.query_one("#feed-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "feed-filter":
            event.stop()
            self.narrow = event.value
            self.refresh_feed()
