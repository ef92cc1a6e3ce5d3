"""`deployctl tui`: the Textual app, imported only when asked for (the CLI starts fast)."""

from __future__ import annotations

import typer

from ..client import default_socket
from ..session import STATE


def tui() -> None:
    """Everything on one screen: dashboard, apps, logs, env, domains, databases (live)."""
    from ..tui.app import run

    code = run(STATE.socket or default_socket(), STATE.token)
    if code:
        raise typer.Exit(code)
