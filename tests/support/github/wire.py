"""One HTTP request in, one response out: what the stand-in's handlers take and give."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlencode


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> dict[str, str]:
        """Parameters from the query, a form body or a JSON body, as GitHub's OAuth takes."""
        found = {name: values[0] for name, values in self.query.items() if values}
        kind = (self.header("Content-Type") or "").split(";")[0].strip().lower()
        text = self.body.decode(errors="replace")
        if kind == "application/json":
            data = self.json()
            if isinstance(data, dict):
                found |= {str(k): str(v) for k, v in data.items() if v is not None}
        elif text:
            found |= {name: values[0] for name, values in parse_qs(text).items() if values}
        return found

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body or b"null")

    def accepts_json(self) -> bool:
        return "json" in (self.header("Accept") or "").lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    rate_limited: bool = False  # the primary limit is spent: X-RateLimit-Remaining says 0

    @classmethod
    def json(cls, status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Response:
        body = json.dumps(data, indent=2).encode()
        content = [("Content-Type", "application/json; charset=utf-8")]
        return cls(status, body, content + (headers or []))

    @classmethod
    def form(cls, status: int, data: dict[str, Any]) -> Response:
        body = urlencode({k: v for k, v in data.items() if v is not None}).encode()
        return cls(
            status, body, [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
        )

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), [("Content-Type", f"{content_type}; charset=utf-8")])
