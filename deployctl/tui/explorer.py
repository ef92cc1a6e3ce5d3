"""The sidebar: every app with its badge, live release and URL; `/` narrows it."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from ..state import BADGE_STYLE, State
from ..terminal import one_line


def entry(state: State, name: str) -> Text:
    app = state.apps[name]
    badge = state.badge(name)
    line = Text.assemble(("● ", BADGE_STYLE[badge]), (name, "bold"))
    release = f"v{app.live_release}" if app.live_release else "—"
    line.append(f"  {release}  {badge.value}", style="dim")
    line.append(f"\n  {one_line(app.url)}", style="dim italic")
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


class AppList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class Explorer(Vertical):
    """Posts `Explorer.Chosen` when an app is highlighted."""

    BINDINGS = [Binding("slash", "filter", "Filter apps")]

    class Chosen(Message):
        def __init__(self, name: str | None, *, enter: bool = False) -> None:
            super().__init__()
            self.name = name
            self.enter = enter
            """Enter was pressed: go into the app's tabs, not just show them."""

    def __init__(self, state: State, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.narrow = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter apps", id="apps-filter", classes="hidden", compact=True)
        yield AppList(id="apps")

    @property
    def options(self) -> AppList:
        return self.query_one("#apps", AppList)

    @property
    def selected(self) -> str | None:
        index = self.options.highlighted
        if index is None:
            return None
        return self.options.get_option_at_index(index).id

    def refresh_apps(self) -> None:
        """Redraw every entry, keeping the highlighted app highlighted."""
        keep = self.selected
        names = [name for name in sorted(self.state.apps) if self.narrow in name]
        options = self.options
        with options.prevent(OptionList.OptionHighlighted):  # a repaint is not a choice
            options.clear_options()
            options.add_options([Option(entry(self.state, name), id=name) for name in names])
            if keep in names:
                options.highlighted = names.index(keep)

    def select(self, name: str) -> None:
        """Highlight `name` and show it (as a click would)."""
        try:
            self.options.highlighted = self.options.get_option_index(name)
        except OptionDoesNotExist:  # filtered out: leave the highlight where it is
            return
        self.post_message(self.Chosen(name))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.post_message(self.Chosen(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(event.option.id, enter=True))

    def action_filter(self) -> None:
        field = self.query_one("#apps-filter", Input)
        field.remove_class("hidden")
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.narrow = event.value.strip().lower()
        self.refresh_apps()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            event.input.add_class("hidden")
        self.options.focus()
        if self.options.highlighted is None and self.options.option_count:
            self.options.highlighted = 0

    def on_key(self, event: events.Key) -> None:
        """Esc in the filter clears it and shows every app again."""
        field = self.query_one("#apps-filter", Input)
        if event.key == "escape" and field.has_focus:
            event.stop()
            field.value = ""
            field.add_class("hidden")
            self.options.focus()
