"""`POST /hooks/github`: hand GitHub's webhook to the daemon, which alone judges it.

This side only carries: the four headers that matter (cut to the protocol's lengths) and the
body's exact bytes, base64, because the signature is over those bytes and the secret never
leaves the daemon. What it decides here is only what cannot wait for the daemon: a body
larger than GitHub ever sends is refused before it is read (a declared Content-Length) or
the moment it grows past the limit (chunked), and the daemon is still told, so the delivery
is recorded. Bodies and signatures are never logged: they are the sender's, and the
endpoint is public.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from deployd.protocol.errors import RpcError
from deployd.protocol.github import (
    MAX_HOOK_BODY_BYTES,
    HookDeliveryParams,
    HookDeliveryResult,
)

from . import forms
from .link import DaemonLink, DaemonUnreachable

log = logging.getLogger("deployd.web.hooks")

METHOD = "github.receive"

HEADERS = {
    "event": "X-GitHub-Event",
    "delivery": "X-GitHub-Delivery",
    "signature": "X-Hub-Signature-256",
    "hook_id": "X-GitHub-Hook-ID",
}
"""HookDeliveryParams' field ← the request header it is taken from."""

BODIES_AT_ONCE = 2
"""Hooks whose bodies are held at once: while a body is read, base64-encoded and sent it
costs about six times its size (a 20 MiB one took the process from 49 to 169 MB), so more
wait their turn rather than exhaust memory. Pushes are a few KiB: they hardly wait."""


def _max_length(field: str) -> int:
    """The protocol's limit on a header's field: cut to it, never refused for it."""
    for item in HookDeliveryParams.model_fields[field].metadata:
        limit = getattr(item, "max_length", None)
        if isinstance(limit, int):
            return limit
    raise LookupError(f"HookDeliveryParams.{field} has no max_length")


LIMITS = {field: _max_length(field) for field in HEADERS}


def delivery_headers(request: Request) -> dict[str, str]:
    return {
        field: request.headers.get(header, "")[: LIMITS[field]] for field, header in HEADERS.items()
    }


def declared_length(request: Request) -> int | None:
    """Content-Length, when the request has one (the server has checked it is a number)."""
    return forms.number(request.headers.get("content-length"), 100)


BODY_SECONDS = 30.0
"""How long a body may take to arrive (GitHub sends it at once; nginx buffers it first)."""


async def read_bounded(request: Request, limit: int) -> tuple[bytes | None, int]:
    """The body, or None with the bytes read so far once more than `limit` arrived: reading
    stops there, and the rest is never taken from the client."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None, size
        chunks.append(chunk)
    return b"".join(chunks), size


async def receive(request: Request) -> Response:
    link: DaemonLink = request.app.state.link
    bodies: asyncio.Semaphore = request.app.state.bodies
    headers = delivery_headers(request)
    declared = declared_length(request)
    if declared is not None and declared > MAX_HOOK_BODY_BYTES:
        return await _too_large(link, headers, declared)
    async with bodies:
        try:
            async with asyncio.timeout(BODY_SECONDS):
                body, size = await read_bounded(request, MAX_HOOK_BODY_BYTES)
        except ClientDisconnect:
            log.info("hook %r (%r): the sender left before its body arrived", *_names(headers))
            return Response(status_code=400)
        except TimeoutError:  # a sender dribbling bytes would hold a slot for everyone
            log.info("hook %r (%r): the body took longer than %s s", *_names(headers), BODY_SECONDS)
            return _answer(408, None, f"the body did not arrive within {BODY_SECONDS:.0f} s")
        if body is None:
            return await _too_large(link, headers, size)
        params = HookDeliveryParams(**headers, body=base64.b64encode(body).decode("ascii"))
        del body
        return await _forward(link, headers, params)


async def _forward(
    link: DaemonLink, headers: dict[str, str], params: HookDeliveryParams
) -> Response:
    try:
        result = await link.call(HookDeliveryResult, METHOD, params)
    except DaemonUnreachable as exc:
        log.warning("hook %r (%r): deployd did not take it: %s", *_names(headers), exc)
        return _answer(503, None, "deployd is not reachable from deployd web; GitHub may redeliver")
    except TimeoutError:
        log.warning("hook %r (%r): deployd did not answer in %s s", *_names(headers), link.timeout)
        return _answer(504, None, "deployd did not answer in time; GitHub may redeliver")
    except RpcError as exc:
        log.warning("hook %r (%r): deployd refused it: %s", *_names(headers), exc.message)
        return _answer(502, None, f"deployd refused the delivery: {exc.message}")
    status = result.status if 200 <= result.status <= 599 else 502
    log.info(
        "hook %r (%r): %d %s%s",
        *_names(headers),
        status,
        result.verdict.value,
        f" (job {result.job})" if result.job is not None else "",
    )
    return _answer(status, result.verdict.value, result.reason, result.job)


async def _too_large(link: DaemonLink, headers: dict[str, str], size: int) -> Response:
    """413, after telling the daemon (so `github deliveries` shows it); the connection is
    closed after the answer, so the rest of the body is never read."""
    reason = f"a body of {size} bytes is larger than GitHub sends ({MAX_HOOK_BODY_BYTES} at most)"
    verdict: str | None = None
    try:
        told = await link.call(
            HookDeliveryResult, METHOD, HookDeliveryParams(**headers, too_large=size)
        )
        verdict, reason = told.verdict.value, told.reason
    except (DaemonUnreachable, TimeoutError, RpcError) as exc:
        log.warning("hook %r (%r): could not record it with deployd: %s", *_names(headers), exc)
    log.info("hook %r (%r): 413, %d bytes", *_names(headers), size)
    return _answer(413, verdict, reason, close=True)


def _answer(
    status: int, verdict: str | None, reason: str, job: int | None = None, *, close: bool = False
) -> JSONResponse:
    body: dict[str, Any] = {"verdict": verdict, "reason": reason, "job": job}
    headers = {"Connection": "close"} if close else None
    return JSONResponse(body, status_code=status, headers=headers)


def _names(headers: dict[str, str]) -> tuple[str, str]:
    """What a log line names a delivery by (quoted with %r: they come from anyone)."""
    return headers["delivery"], headers["event"]
