"""`deployctl events [-f]`: what happened, and what is happening."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.text import Text

from deployd.protocol.events import Event, EventsListParams, EventsListResult, EventsSubscribeParams

from .. import render
from ..session import JsonFlag, session


def _line(event: Event) -> Text:
    line = render.text(f"{render.when(event.at)}  ", style="dim")
    line.append(f"{event.kind:<24}", style="bold")
    if event.app:
        line.append(f"[{event.app}] ")
    line.append(event.message)
    return line


def events(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new events.")
    ] = False,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only this kind and below, e.g. user.")
    ] = None,
    app: Annotated[str | None, typer.Option(help="Only events of this app.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json: JsonFlag = False,
) -> None:
    """Show recent events; with -f, stream them live (JSON lines with --json)."""
    state = session(json)
    kinds = kind or []
    if not follow:
        result: EventsListResult = state.call(
            "events.list", EventsListParams(kinds=kinds, app=app, limit=limit)
        )
        if json:
            render.emit_json(result)
        else:
            for event in result.events:
                render.out().print(_line(event))
        return
    recent: EventsListResult = state.call(
        "events.list", EventsListParams(kinds=kinds, app=app, limit=limit)
    )
    after = recent.events[-1].id if recent.events else 0
    with state.connect(timeout=30) as client:
        _, stream = client.stream(
            "events.subscribe", EventsSubscribeParams(kinds=kinds, app=app, after_id=after)
        )
        for event in [*recent.events]:
            _print(event, json)
        for params in stream:
            _print(Event.model_validate(params), json)


def _print(event: Event, json: bool) -> None:
    if json:
        print(event.model_dump_json(), flush=True)
    else:
        render.out().print(_line(event))
