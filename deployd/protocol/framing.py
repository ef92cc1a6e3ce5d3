"""NDJSON framing of JSON-RPC 2.0: one JSON object per line, UTF-8.

Pure functions shared by the daemon and the client. Decoding is strict and structural
(before any params model runs) so every malformed line maps to exactly one JSON-RPC error
and nothing a peer sends can raise anything but `RpcError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import ErrorKind, RpcError

MAX_LINE_BYTES = 1024 * 1024
"""A request line longer than this is refused and the connection closed."""
MAX_TRUSTED_LINE_BYTES = 40 * 1024 * 1024
"""The same for admins and deployd's own web part: room for a webhook body (GitHub sends
up to 25 MB), base64 in its `github.receive` call."""

RequestId = int | str | None


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    params: dict[str, Any]
    id: RequestId
    is_notification: bool


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def request(method: str, params: dict[str, Any], id: RequestId) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": id}


def result(id: RequestId, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "result": value}


def error(id: RequestId, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "error": err.to_wire()}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def decode_request(line: bytes, limit: int = MAX_LINE_BYTES) -> Request:
    """Parse one line into a request, or raise BadRequest."""
    if len(line) > limit:
        raise BadRequest(ErrorKind.INVALID_REQUEST, f"request larger than {limit} bytes")
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(ErrorKind.PARSE, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(ErrorKind.PARSE, "not valid JSON: nested too deeply") from None
    if isinstance(message, list):
        raise BadRequest(ErrorKind.INVALID_REQUEST, "batch requests are not supported")
    if not isinstance(message, dict):
        raise BadRequest(ErrorKind.INVALID_REQUEST, "a request must be a JSON object")
    raw_id = message.get("id")
    request_id: RequestId = raw_id if _valid_id(raw_id) else None
    if message.get("jsonrpc") != "2.0":
        raise BadRequest(ErrorKind.INVALID_REQUEST, 'missing "jsonrpc": "2.0"', request_id)
    if not _valid_id(raw_id):
        raise BadRequest(ErrorKind.INVALID_REQUEST, "id must be a string, an integer or null")
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise BadRequest(ErrorKind.INVALID_REQUEST, "method must be a string", request_id)
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadRequest(
            ErrorKind.INVALID, "params must be an object (named parameters)", request_id
        )
    return Request(method, params, request_id, is_notification="id" not in message)


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return value is None or isinstance(value, str | int)


class BadRequest(RpcError):
    """A line that is not a usable request; carries the id when one could be read."""

    def __init__(self, kind: ErrorKind, message: str, request_id: RequestId = None) -> None:
        super().__init__(kind, message)
        self.request_id = request_id
