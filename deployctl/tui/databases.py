"""The database manager: every database, its size, links, credentials (revealed on
request), backups (run, list, restore) and its migrations' last result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from deployd.protocol.apps import JobInfo
from deployd.protocol.databases import (
    BackupInfo,
    DbBackupsResult,
    DbDropParams,
    DbInfo,
    DbListResult,
    DbMigrateParams,
    DbParams,
    DbRestoreParams,
    DbShowParams,
    SizeHistory,
)
from deployd.protocol.errors import RpcError

from ..client import DaemonUnreachable
from ..state import State
from ..terminal import cell, text
from .daemon import Daemon
from .deploying import DeployScreen
from .detail import size, when
from .modals import Confirm, NewDatabase


def facts(db: DbInfo, *, may_reveal: bool) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # a revealed password is shown whole, to be copied
    table.add_row("database", cell(db.name))
    table.add_row("where", cell(f"{db.host or 'local socket'}:{db.port or ''}"))
    table.add_row("user", cell(db.user))
    hidden = Text("•••• (s reveals)" if may_reveal else "••••", style="dim")
    table.add_row("password", text(db.password) if db.password else hidden)
    if db.url:
        table.add_row("url", text(db.url))
    links = ", ".join(f"{link.app} as {link.variable}" for link in db.links) or "none"
    table.add_row("linked", cell(links))
    table.add_row("schedule", cell(f"{db.schedule or 'none'} (keep {db.keep})"))
    overdue = Text(" overdue", style="bold red") if db.backup_overdue else ""
    table.add_row("last verified backup", Text.assemble(when(db.last_verified_at), overdue))
    if db.migrated_at:
        outcome = "ok" if db.migrate_status == 0 else f"exit {db.migrate_status}"
        table.add_row(
            "last migration", cell(f"{when(db.migrated_at)} by {db.migrate_app}: {outcome}")
        )
        if db.migrate_output:
            table.add_row("", text(db.migrate_output[-500:], style="dim"))
    if db.problem:
        table.add_row("problem", text(db.problem, style="red"))
    return table


def size_caption(history: SizeHistory) -> str:
    """What the chart under it shows: the last 7 days' size, and how much it grew."""
    points = history.points
    if len(points) < 2:
        return "size, last 7 days: not measured yet (every 5 minutes)"
    grown = (points[-1].bytes - points[0].bytes) / 2**20
    return f"size, last 7 days: {grown:+.1f} MiB"


def backup_row(backup: BackupInfo) -> tuple[str | Text, ...]:
    status = Text(
        backup.status, style={"verified": "green", "failed": "red"}.get(backup.status, "")
    )
    return (
        str(backup.id),
        when(backup.started_at),
        status,
        f"{backup.size_bytes / 2**20:.2f} MiB" if backup.size_bytes is not None else "—",
        f"{backup.tables or 0} tables, {backup.rows or 0:,} rows",
        cell(backup.location + (f" ({backup.remote})" if backup.remote else "")),
        cell(backup.trigger),
        cell(backup.error or (f"remote: {backup.remote_error}" if backup.remote_error else None)),
    )


class DatabaseManager(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "create", "Create"),
        Binding("b", "backup", "Backup now"),
        Binding("s", "reveal", "Reveal"),
        Binding("r", "restore", "Restore"),
        Binding("m", "migrate", "Migrate"),
        Binding("d", "drop", "Drop"),
    ]

    def __init__(self, daemon: Daemon, state: State) -> None:
        super().__init__()
        self.daemon = daemon
        self.state = state
        self.revealed: DbInfo | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield DataTable(id="dbs", cursor_type="row")
            with Horizontal(id="db-lower"):
                with Vertical(id="db-left", classes="panel"):
                    yield Static(id="db-facts")
                    yield Static(id="db-size-caption", classes="caption")
                    yield Sparkline([], id="db-size")
                yield DataTable(id="backups", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "databases"
        self.query_one("#dbs", DataTable).add_columns(
            "database", "linked apps", "size", "connections", "last verified backup", "schedule"
        )
        self.query_one("#backups", DataTable).add_columns(
            "id", "when", "status", "size", "contents", "where", "trigger", "error"
        )
        self.reload()

    @property
    def selected(self) -> DbInfo | None:
        table = self.query_one("#dbs", DataTable)
        if not table.row_count:
            return None
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return next((db for db in self.state.databases if db.name == name), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs = {
            "create": "databases.create",
            "backup": "databases.backup",
            "reveal": "databases.reveal",
            "restore": "databases.restore",
            "migrate": "databases.migrate",
            "drop": "databases.drop",
        }.get(action)
        return needs is None or self.state.may(needs)

    @work(exclusive=True, group="dbs")
    async def reload(self) -> None:
        try:
            result: DbListResult = await self.daemon.call("databases.list")
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), severity="error")
            return
        self.state.databases = result.databases
        table = self.query_one("#dbs", DataTable)
        keep = self.selected.name if self.selected else None
        table.clear()
        for db in result.databases:
            overdue = Text(" overdue", style="bold red") if db.backup_overdue else ""
            table.add_row(
                db.name,
                ", ".join(link.app for link in db.links) or "—",
                size(db),
                str(db.connections if db.connections is not None else "?"),
                Text.assemble(when(db.last_verified_at), overdue),
                db.schedule or "none",
                key=db.name,
            )
        if keep is not None:
            names = [db.name for db in result.databases]
            if keep in names:
                table.move_cursor(row=names.index(keep))
        self.show_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "dbs":
            chosen = self.selected
            if self.revealed is not None and (chosen is None or chosen.name != self.revealed.name):
                self.revealed = None  # credentials stay shown only for the one asked about
            self.show_selected()

    @work(exclusive=True, group="db-detail")
    async def show_selected(self) -> None:
        db = self.selected
        if db is None:
            self.query_one("#db-facts", Static).update("no databases yet: c creates one")
            return
        shown = self.revealed if self.revealed and self.revealed.name == db.name else db
        may_reveal = self.state.may("databases.reveal")
        self.query_one("#db-facts", Static).update(facts(shown, may_reveal=may_reveal))
        try:
            detail: DbInfo = await self.daemon.call("databases.show", DbShowParams(name=db.name))
        except (RpcError, DaemonUnreachable):
            detail = db  # the list's facts stay; the backups below say what went wrong
        history = detail.size_history or SizeHistory(
            since=db.created_at, until=db.created_at, points=[]
        )
        self.query_one("#db-size-caption", Static).update(size_caption(history))
        points = history.points if len(history.points) > 1 else []
        self.query_one("#db-size", Sparkline).data = [p.bytes for p in points]
        try:
            result: DbBackupsResult = await self.daemon.call(
                "databases.backups", DbParams(name=db.name)
            )
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), severity="error")
            return
        table = self.query_one("#backups", DataTable)
        table.clear()
        for backup in result.backups:
            table.add_row(*backup_row(backup), key=str(backup.id))

    async def _do(self, method: str, params: object, done: str) -> bool:
        try:
            await self.daemon.call(method, params)  # type: ignore[arg-type]
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), title=f"{method} failed", severity="error", timeout=10)
            return False
        self.notify(done)
        self.reload()
        return True

    @work
    async def action_create(self) -> None:
        async def send(params: BaseModel) -> Any:
            return await self.daemon.call("databases.create", params)

        made = await self.app.push_screen_wait(NewDatabase(sorted(self.state.apps), send=send))
        if made is not None:
            self.notify(f"created {made.name}")
            self.reload()

    @work(group="db-backup")
    async def action_backup(self) -> None:
        db = self.selected
        if db is not None:
            self.notify(f"backing up {db.name}: dump, verify, record…")
            await self._do(
                "databases.backup", DbParams(name=db.name), f"{db.name}: backup verified"
            )

    @work
    async def action_reveal(self) -> None:
        db = self.selected
        if db is None:
            return
        try:
            self.revealed = await self.daemon.call("databases.reveal", DbParams(name=db.name))
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), severity="error")
            return
        self.show_selected()

    @work
    async def action_restore(self) -> None:
        db = self.selected
        table = self.query_one("#backups", DataTable)
        if db is None or not table.row_count:
            self.notify("choose a database and one of its backups first")
            return
        backup = int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
        what = (
            f"Restore {db.name} from backup {backup}?\n\nIts linked apps "
            f"({', '.join(link.app for link in db.links) or 'none'}) are paused for the swap; "
            f"the database as it is now is kept beside it under another name."
        )
        if await self.app.push_screen_wait(Confirm(what, action="Restore")):
            await self._do(
                "databases.restore",
                DbRestoreParams(name=db.name, backup=backup),
                f"{db.name} restored from backup {backup}",
            )

    @work
    async def action_migrate(self) -> None:
        db = self.selected
        if db is None or not db.links:
            self.notify("migrations run in a linked app: link one first")
            return
        app = db.links[0].app
        what = f"Run {app}'s `release:` command (its migrations) again against {db.name}?"
        if not await self.app.push_screen_wait(Confirm(what, action="Migrate")):
            return
        try:
            job: JobInfo = await self.daemon.call("databases.migrate", DbMigrateParams(app=app))
        except (RpcError, DaemonUnreachable) as exc:
            self.notify(str(exc), title="migrate failed", severity="error", timeout=10)
            return
        await self.app.push_screen(DeployScreen(self.daemon, job))

    @work
    async def action_drop(self) -> None:
        db = self.selected
        if db is None:
            return
        if db.links:
            self.notify(
                f"{db.name} is linked to {', '.join(link.app for link in db.links)}: unlink first",
                severity="warning",
            )
            return
        what = (
            f"Drop {db.name}?\n\nA final backup is taken and verified first; then the "
            "database and its role are gone."
        )
        if await self.app.push_screen_wait(Confirm(what, action="Drop")):
            await self._do("databases.drop", DbDropParams(name=db.name), f"dropped {db.name}")
