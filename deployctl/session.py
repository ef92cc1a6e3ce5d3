"""Per-invocation state: where the daemon is, how to authenticate, how to print."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from .client import Client, default_socket

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")
]


@dataclass
class Session:
    socket: Path | None = None
    token: str | None = None
    json: bool = False

    def connect(self, timeout: float | None = 60.0) -> Client:
        client = Client(self.socket or default_socket(), timeout=timeout)
        if self.token:
            try:
                client.authenticate(self.token)
            except Exception:
                client.close()
                raise
        return client

    def call(
        self,
        method: str,
        params: BaseModel | dict[str, Any] | None = None,
        *,
        timeout: float | None = 60.0,
    ) -> Any:
        with self.connect(timeout) as client:
            return client.call(method, params)


STATE = Session()
"""The one session of this process; global options and `--json` fill it in."""


def session(json: bool = False) -> Session:
    STATE.json = STATE.json or json
    return STATE
