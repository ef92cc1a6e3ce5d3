"""A plain HTTP client for tests that talk to the GitHub stand-in as any client would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode
from urllib.request import Request, urlopen


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


def http(
    method: str,
    url: str,
    *,
    token: str | None = None,
    scheme: str = "token",
    data: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    sent = dict(headers or {})
    body = None
    if token is not None:
        sent["Authorization"] = f"{scheme} {token}"
    if data is not None:
        body, sent["Content-Type"] = json.dumps(data).encode(), "application/json"
    if form is not None:
        body = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        with urlopen(Request(url, body, sent, method=method), timeout=30) as answer:
            return Reply(answer.status, answer.headers, answer.read())
    except HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())
