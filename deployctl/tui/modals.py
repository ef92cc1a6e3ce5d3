"""Wizards and confirmations. Each validates as you type with the protocol's own models,
the rules the daemon applies, and returns params ready to send (or None when left)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from deployd.protocol.apps import AppsCreateParams
from deployd.protocol.common import explain
from deployd.protocol.databases import DbCreateParams
from deployd.protocol.domains import DomainsAttachParams
from deployd.protocol.env import EnvSetParams
from deployd.protocol.errors import RpcError

from ..client import DaemonUnreachable
from ..terminal import text


class Confirm(ModalScreen[bool]):
    """A yes/no that names exactly what will happen."""

    BINDINGS = [Binding("escape", "no", "Cancel"), Binding("y", "yes", "Yes", show=False)]

    def __init__(self, what: str, *, action: str = "Go ahead") -> None:
        super().__init__()
        self.what = what
        self.action = action

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(text(self.what), id="confirm-what")
            with Horizontal(classes="buttons"):
                yield Button(self.action, variant="error", id="yes", compact=True)
                yield Button("Cancel", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.dismiss(False)


Sender = Callable[[BaseModel], Awaitable[Any]]
"""Sends the form's params to the daemon; what it returns is what the form gives back."""


class Choose(ModalScreen[str | None]):
    """A question with more than one way to say yes: returns the id of the button pressed
    (None when left)."""

    BINDINGS = [Binding("escape", "leave", "Cancel")]

    def __init__(self, what: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.what = what
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(text(self.what), id="confirm-what")
            with Horizontal(classes="buttons"):
                for id, label in self.choices:
                    yield Button(label, variant="warning", id=id, compact=True)
                yield Button("Cancel", id="leave", compact=True)

    def on_mount(self) -> None:
        self.query_one("#leave", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "leave" else event.button.id)

    def action_leave(self) -> None:
        self.dismiss(None)


class Form(ModalScreen[Any]):
    """A form whose fields make one params model. The error line says what the daemon
    would refuse, as you type (once you have typed); with a `send`, the form stays open
    until the daemon has said yes, and shows its refusal in place, so nothing typed is
    lost to a typo."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    TITLE_TEXT = ""

    def __init__(self, send: Sender | None = None) -> None:
        super().__init__()
        self.send = send
        self.touched = False
        self.sending = False
        """A send is under way: further Enters wait for its answer, never send again."""

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def params(self) -> BaseModel:
        """The params the fields make; raises ValidationError or ValueError."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal form"):
            yield Static(self.TITLE_TEXT, classes="form-title")
            with VerticalScroll(classes="form-body"):  # a small terminal scrolls the fields
                yield from self.fields()
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("OK", variant="primary", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def say(self, message: str) -> None:
        self.query_one("#form-error", Static).update(text(message))

    def check(self) -> BaseModel | None:
        try:
            made = self.params()
        except ValidationError as exc:
            self.say(explain(exc) if self.touched else "")
            return None
        except ValueError as exc:
            self.say(str(exc) if self.touched else "")
            return None
        self.say("")
        return made

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.has_focus:  # typed, not filled in by the form itself
            self.touched = True
        self.check()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.check()

    def on_select_changed(self) -> None:
        self.check()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        self.touched = True
        if self.sending:
            return
        made = self.check()
        if made is None:
            return
        if self.send is None:
            self.dismiss(made)
        else:
            self._send(made)

    @work(group="form-send")
    async def _send(self, made: BaseModel) -> None:
        self.sending = True
        button = self.query_one("#ok", Button)
        button.disabled = True
        self.say("asking deployd…")
        try:
            answer = await self.send(made)  # type: ignore[misc]
        except (RpcError, DaemonUnreachable) as exc:
            self.say(str(exc))
            button.disabled = False
            self.sending = False
            return
        self.dismiss(answer)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def value(self, id: str) -> str:
        return self.query_one(f"#{id}", Input).value.strip()


class NewApp(Form):
    TITLE_TEXT = "New app"
    AUTO_FOCUS = "#name"

    def fields(self) -> ComposeResult:
        yield Label("name")
        yield Input(compact=True, placeholder="shop", id="name")
        yield Label("source: a git URL, or a directory on this server")
        yield Input(
            compact=True, placeholder="https://github.com/you/shop.git  or  /srv/shop", id="source"
        )
        yield Label("branch (git only)")
        yield Input(compact=True, placeholder="main", id="branch")
        yield Label("runtime")
        yield Select(
            compact=True,
            options=[(r, r) for r in ("auto", "process", "docker", "systemd")],
            value="auto",
            allow_blank=False,
            id="runtime",
        )

    def params(self) -> AppsCreateParams:
        source = self.value("source")
        is_path = source.startswith("/")
        return AppsCreateParams.model_validate(
            {
                "name": self.value("name"),
                "git": None if is_path or not source else source,
                "path": source if is_path else None,
                "branch": self.value("branch") or None,
                "runtime": self.query_one("#runtime", Select).value,
            }
        )


class EditEnv(Form):
    """Many changes at once, one config release. Values stay masked while typed."""

    TITLE_TEXT = "Change env (one config release for every change)"

    AUTO_FOCUS = "#name-1"

    def __init__(self, app: str, names: list[str], send: Sender | None = None) -> None:
        super().__init__(send)
        self.app_name = app
        self.names = names
        self.rows = 0

    def fields(self) -> ComposeResult:
        listed = ", ".join(self.names) or "none yet"
        yield Static(f"{self.app_name} has: {listed}", classes="hint")
        with VerticalScroll(id="env-rows"):
            yield self._row()
        yield Button("+ another variable", id="more", compact=True)
        yield Label("remove (names, separated by spaces)")
        yield Input(compact=True, placeholder="OLD_TOKEN DEBUG", id="unset")
        yield Checkbox(compact=True, label="show the values I type", id="unmask")
        yield Checkbox(
            compact=True,
            label="apply now (a config release); off: staged for the next deploy",
            value=True,
            id="restart",
        )

    def _row(self) -> Horizontal:
        self.rows += 1
        return Horizontal(
            Input(placeholder="NAME", id=f"name-{self.rows}", classes="env-name", compact=True),
            Input(
                placeholder="value",
                password=True,
                id=f"value-{self.rows}",
                classes="env-value",
                compact=True,
            ),
            classes="env-row",
        )

    @on(Button.Pressed, "#more")
    def more(self) -> None:
        self.query_one("#env-rows", VerticalScroll).mount(self._row())

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "unmask":
            for field in self.query(".env-value").results(Input):
                field.password = not event.value
        self.check()

    def params(self) -> EnvSetParams:
        changes: dict[str, str] = {}
        for number in range(1, self.rows + 1):
            name = self.query_one(f"#name-{number}", Input).value.strip()
            if name:
                changes[name] = self.query_one(f"#value-{number}", Input).value
        unset = self.value("unset").split()
        if not changes and not unset:
            raise ValueError("nothing to change yet")
        return EnvSetParams.model_validate(
            {
                "app": self.app_name,
                "set": changes,
                "unset": unset,
                "restart": self.query_one("#restart", Checkbox).value,
            }
        )


class AttachDomain(Form):
    TITLE_TEXT = "Attach a domain"
    AUTO_FOCUS = "#domain"

    def __init__(self, app: str, send: Sender | None = None) -> None:
        super().__init__(send)
        self.app_name = app

    def fields(self) -> ComposeResult:
        yield Label(f"domain for {self.app_name}")
        yield Input(compact=True, placeholder="shop.example.com", id="domain")
        yield Checkbox(
            compact=True, label="TLS (a certificate by ACME; HTTP redirects to HTTPS)", id="tls"
        )
        yield Checkbox(
            compact=True, label="check that its DNS points here first", value=True, id="verify"
        )

    def params(self) -> DomainsAttachParams:
        domain = self.value("domain")
        if not domain:
            raise ValueError("a domain, like shop.example.com")
        return DomainsAttachParams(
            app=self.app_name,
            domain=domain,
            tls=self.query_one("#tls", Checkbox).value,
            verify_dns=self.query_one("#verify", Checkbox).value,
        )


class NewDatabase(Form):
    TITLE_TEXT = "New database"
    AUTO_FOCUS = "#name"

    def __init__(self, apps: list[str], app: str | None = None, send: Sender | None = None) -> None:
        super().__init__(send)
        self.apps = apps
        self.app_name = app

    def fields(self) -> ComposeResult:
        yield Label("name")
        yield Input(compact=True, placeholder=f"{self.app_name or 'shop'}db", id="name")
        yield Label("link to app (it gets the URL in a config release)")
        yield Select(
            compact=True,
            options=[(a, a) for a in self.apps],
            value=self.app_name or Select.NULL,
            id="app",
        )
        yield Label("as variable")
        yield Input(compact=True, value="DATABASE_URL", id="variable")

    def params(self) -> DbCreateParams:
        app = self.query_one("#app", Select).value
        return DbCreateParams.model_validate(
            {
                "name": self.value("name"),
                "app": app if isinstance(app, str) else None,
                "variable": self.value("variable") or "DATABASE_URL",
            }
        )
