"""NDJSON framing: every line maps to a request or exactly one JSON-RPC error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployd.protocol import framing
from deployd.protocol.errors import ErrorCode, ErrorKind, RpcError


def test_a_well_formed_request_decodes() -> None:
    line = framing.encode(framing.request("users.list", {"a": 1}, 7))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    request = framing.decode_request(line)
    assert (request.method, request.params, request.id, request.is_notification) == (
        "users.list",
        {"a": 1},
        7,
        False,
    )


def test_a_request_without_id_is_a_notification() -> None:
    request = framing.decode_request(b'{"jsonrpc":"2.0","method":"x.y"}')
    assert request.is_notification and request.params == {}


@pytest.mark.parametrize(
    ("line", "kind", "request_id"),
    [
        (b"nope", ErrorKind.PARSE, None),
        (b"\xff", ErrorKind.PARSE, None),
        (b"[]", ErrorKind.INVALID_REQUEST, None),
        (b"3", ErrorKind.INVALID_REQUEST, None),
        (b'{"jsonrpc":"1.0","id":4,"method":"a"}', ErrorKind.INVALID_REQUEST, 4),
        (b'{"jsonrpc":"2.0","id":true,"method":"a"}', ErrorKind.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":5,"method":7}', ErrorKind.INVALID_REQUEST, 5),
        (b'{"jsonrpc":"2.0","id":"s","method":"a","params":[1]}', ErrorKind.INVALID, "s"),
    ],
)
def test_malformed_lines(line: bytes, kind: ErrorKind, request_id: object) -> None:
    with pytest.raises(framing.BadRequest) as failure:
        framing.decode_request(line)
    assert failure.value.kind is kind
    assert failure.value.request_id == request_id


def test_oversized_lines_are_refused_before_parsing() -> None:
    with pytest.raises(framing.BadRequest) as failure:
        framing.decode_request(b" " * (framing.MAX_LINE_BYTES + 1))
    assert failure.value.code == ErrorCode.INVALID_REQUEST


def test_errors_round_trip_through_the_wire() -> None:
    original = RpcError(ErrorKind.CONFLICT, "already there", name="x")
    wire = json.loads(framing.encode(framing.error(3, original)))
    assert wire["error"]["code"] == ErrorCode.CONFLICT
    back = RpcError.from_wire(wire["error"])
    assert (back.kind, back.message, back.details) == (
        ErrorKind.CONFLICT,
        "already there",
        {"name": "x"},
    )


def test_a_garbled_error_from_the_daemon_is_still_an_error() -> None:
    assert RpcError.from_wire("boom").kind is ErrorKind.INTERNAL
    assert RpcError.from_wire({"message": "m", "data": {"kind": "??"}}).kind is ErrorKind.INTERNAL


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_bad_request(line: bytes) -> None:
    try:
        request = framing.decode_request(line)
    except framing.BadRequest as exc:
        assert exc.kind in set(ErrorKind)
        json.dumps(framing.error(exc.request_id, exc))
    else:
        assert isinstance(request.method, str) and isinstance(request.params, dict)


@given(
    st.dictionaries(
        st.sampled_from(["jsonrpc", "id", "method", "params", "extra"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=5)
        | st.lists(st.integers(), max_size=2)
        | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
)
def test_arbitrary_objects_decode_or_fail_cleanly(message: dict[str, object]) -> None:
    line = json.dumps(message).encode()
    try:
        request = framing.decode_request(line)
    except framing.BadRequest as exc:
        if exc.request_id is not None:
            assert exc.request_id == message.get("id")
    else:
        assert message["jsonrpc"] == "2.0"
        assert request.method == message["method"]
