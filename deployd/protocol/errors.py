"""Error codes on the wire.

JSON-RPC fixes the codes for malformed traffic; everything a service refuses carries one
of a handful of stable `data.kind` values, so clients decide on the kind (never on message
text) and map it to an exit code in exactly one place.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorKind(StrEnum):
    PARSE = "parse"
    INVALID_REQUEST = "invalid_request"
    METHOD_NOT_FOUND = "method_not_found"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ErrorCode(IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    FORBIDDEN = -32001
    NOT_FOUND = -32002
    CONFLICT = -32003
    UNAVAILABLE = -32004


CODE_OF_KIND: dict[ErrorKind, ErrorCode] = {
    ErrorKind.PARSE: ErrorCode.PARSE_ERROR,
    ErrorKind.INVALID_REQUEST: ErrorCode.INVALID_REQUEST,
    ErrorKind.METHOD_NOT_FOUND: ErrorCode.METHOD_NOT_FOUND,
    ErrorKind.INVALID: ErrorCode.INVALID_PARAMS,
    ErrorKind.NOT_FOUND: ErrorCode.NOT_FOUND,
    ErrorKind.CONFLICT: ErrorCode.CONFLICT,
    ErrorKind.FORBIDDEN: ErrorCode.FORBIDDEN,
    ErrorKind.UNAVAILABLE: ErrorCode.UNAVAILABLE,
    ErrorKind.INTERNAL: ErrorCode.INTERNAL_ERROR,
}


class RpcError(Exception):
    """An error that travels to the client as a JSON-RPC error object.

    `message` is shown to a person as is: it must say what to do and never hold a secret.
    """

    def __init__(self, kind: ErrorKind, message: str, **details: object) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details

    @property
    def code(self) -> int:
        return int(CODE_OF_KIND[self.kind])

    def to_wire(self) -> dict[str, object]:
        data: dict[str, object] = {"kind": self.kind.value}
        if self.details:
            data["details"] = self.details
        return {"code": self.code, "message": self.message, "data": data}

    @classmethod
    def from_wire(cls, error: object) -> RpcError:
        if not isinstance(error, dict):
            return cls(ErrorKind.INTERNAL, f"malformed error from daemon: {error!r}")
        data = error.get("data")
        data = data if isinstance(data, dict) else {}
        try:
            kind = ErrorKind(str(data.get("kind")))
        except ValueError:
            kind = ErrorKind.INTERNAL
        details = data.get("details")
        details = details if isinstance(details, dict) else {}
        return cls(kind, str(error.get("message", "unknown error")), **details)

    def __repr__(self) -> str:
        return f"RpcError({self.kind.value!r}, {self.message!r})"


def invalid(message: str, **details: object) -> RpcError:
    return RpcError(ErrorKind.INVALID, message, **details)


def not_found(message: str, **details: object) -> RpcError:
    return RpcError(ErrorKind.NOT_FOUND, message, **details)


def conflict(message: str, **details: object) -> RpcError:
    return RpcError(ErrorKind.CONFLICT, message, **details)


def forbidden(message: str, **details: object) -> RpcError:
    return RpcError(ErrorKind.FORBIDDEN, message, **details)


def unavailable(message: str, **details: object) -> RpcError:
    return RpcError(ErrorKind.UNAVAILABLE, message, **details)
