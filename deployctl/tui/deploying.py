"""A deploy (or rollback, restart) followed live: its steps and build output as the CLI
shows them. Leaving the screen leaves the job running in the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static

from deployd.protocol.apps import DeploysWatchParams, JobInfo
from deployd.protocol.errors import RpcError
from deployd.protocol.events import Event, EventType

from ..aio import AsyncClient, Link
from ..state import JOB_FINISHED
from ..terminal import one_line, terminal_safe
from .daemon import Daemon
from .logview import LINE_CHARS


def step_line(event: Event) -> Text | None:
    kind = event.type
    message = terminal_safe(event.message[: LINE_CHARS * 4])
    if kind is EventType.DEPLOY_OUTPUT:
        return Text("  " + one_line(event.message[:LINE_CHARS]), style="dim")
    if kind is EventType.DEPLOY_FAILED:
        return Text("✗ " + message, style="bold red")
    if kind in (EventType.DEPLOY_LIVE, EventType.DEPLOY_SUCCEEDED):
        return Text("✓ " + message, style="bold green")
    if kind is EventType.DEPLOY_WARNING:
        return Text("! " + message, style="yellow")
    return Text("→ " + message, style="bold")


class DeployScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "leave", "Leave (it keeps running)"),
        Binding("ctrl+c", "leave", "Leave", show=False, priority=True),
    ]

    def __init__(self, daemon: Daemon, job: JobInfo) -> None:
        super().__init__()
        self.daemon = daemon
        self.job = job
        self.outcome: str | None = None
        self.link = Link.LIVE

    def compose(self) -> ComposeResult:
        with Vertical(id="deploy-box", classes="modal"):
            yield Static(self._title(), id="deploy-title")
            yield RichLog(id="deploy-steps", max_lines=5000, wrap=True)
            yield Static(
                "Esc leaves this screen; the job carries on in the daemon.",
                classes="hint",
                id="deploy-hint",
            )

    def _title(self) -> Text:
        text = Text(f"{self.job.kind} {self.job.app}: job {self.job.id}", style="bold")
        if self.outcome:
            text.append(
                f"  {self.outcome}", style="green" if self.outcome == "succeeded" else "red"
            )
        return text

    def on_mount(self) -> None:
        self.watch_job()

    @work(exclusive=True, exit_on_error=False)
    async def watch_job(self) -> None:
        steps = self.query_one("#deploy-steps", RichLog)
        try:
            await self._follow(steps)
        except (RpcError, ValidationError) as exc:
            steps.write(Text(f"cannot follow the job: {terminal_safe(str(exc))}", style="red"))

    async def _follow(self, steps: RichLog) -> None:
        seen = 0
        async for item in self.daemon.stream(self._open, self._on_link):
            event = Event.model_validate(item)
            if event.id and event.id <= seen:
                continue  # replayed after a reconnection
            seen = max(seen, event.id)
            line = step_line(event)
            if line is not None:
                steps.write(line)
            if event.type in (EventType.DEPLOY_SUCCEEDED, EventType.DEPLOY_FAILED):
                self.outcome = "failed" if event.type is EventType.DEPLOY_FAILED else "succeeded"
                self.query_one("#deploy-title", Static).update(self._title())
                self.query_one("#deploy-hint", Static).update("Esc closes this screen.")
                return

    async def _open(self, client: AsyncClient) -> AsyncIterator[dict[str, Any]]:
        job, items = await client.stream("deploys.watch", DeploysWatchParams(job=self.job.id))
        if job.state in JOB_FINISHED and self.outcome is None:
            self.outcome = job.state
            self.query_one("#deploy-title", Static).update(self._title())
        return items

    def _on_link(self, link: Link, reason: str | None) -> None:
        """Said once when the stream drops, once when it is back: not at every retry."""
        steps = self.query_one("#deploy-steps", RichLog)
        if link is Link.RECONNECTING and self.link is Link.LIVE:
            steps.write(Text(f"disconnected — reconnecting ({reason})", style="bold white on red"))
        elif link is Link.LIVE and self.link is Link.RECONNECTING:
            steps.write(Text("reconnected", style="green"))
        if link is not Link.CONNECTING:
            self.link = link

    def action_leave(self) -> None:
        self.dismiss(None)
