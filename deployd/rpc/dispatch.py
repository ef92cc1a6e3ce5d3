"""From a decoded request to a response: look up, authorise, validate, call, audit.

This is the one place that turns exceptions into JSON-RPC errors. Validation messages name
the field and the rule, never the value sent (it may be a password).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg_pool
from pydantic import BaseModel, ValidationError

from deployd.domain.roles import role_allows
from deployd.protocol.common import explain
from deployd.protocol.errors import ErrorKind, RpcError, forbidden, invalid, unavailable
from deployd.protocol.framing import Request
from deployd.protocol.methods import METHODS, Method
from deployd.services import audit
from deployd.services.core import Caller, Core

from .handlers import HANDLERS, STREAM_HANDLERS

log = logging.getLogger(__name__)

_SAFE_TARGET = re.compile(r"[A-Za-z0-9._-]{1,64}")

Outcome = tuple[BaseModel, AsyncIterator[BaseModel] | None]


def describe_validation_error(exc: ValidationError) -> str:
    return "invalid params: " + explain(exc)


class Dispatcher:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def call(self, caller: Caller, request: Request) -> Outcome:
        method = METHODS.get(request.method)
        if method is None:
            raise RpcError(ErrorKind.METHOD_NOT_FOUND, f"unknown method {request.method!r}")
        target = _target(method, request.params)
        try:
            outcome = await self._call(method, caller, request.params)
        except RpcError as exc:
            # an error may echo what was sent, and what was sent may be a secret
            masked = RpcError(exc.kind, self.core.platform.mask(None, exc.message), **exc.details)
            await self._audit(method, caller, target, masked.kind.value, masked.message)
            raise masked from None
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("%s: database unavailable: %s", method.name, exc)
            err = unavailable("the database is unavailable; see `deployctl status`")
            await self._audit(method, caller, target, err.kind.value, err.message)
            raise err from None
        except Exception:
            log.exception("%s failed", method.name)
            await self._audit(method, caller, target, "error", "internal error")
            raise RpcError(
                ErrorKind.INTERNAL, "internal error; the daemon log has details"
            ) from None
        detail, caller.audit_detail = caller.audit_detail, None
        await self._audit(method, caller, target, "ok", detail)
        return outcome

    async def _call(self, method: Method, caller: Caller, raw: dict[str, Any]) -> Outcome:
        if not role_allows(caller.identity.role, method.role):
            raise forbidden(
                f"{method.name} needs the {method.role.value} role; "
                f"{caller.name} is {caller.identity.role.value}"
            )
        try:
            params = method.params.model_validate(raw)
        except ValidationError as exc:
            raise invalid(describe_validation_error(exc)) from None
        if method.stream:
            first, stream = await STREAM_HANDLERS[method.name](self.core, caller, params)
            return first, stream
        return await HANDLERS[method.name](self.core, caller, params), None

    async def _audit(
        self, method: Method, caller: Caller, target: str | None, outcome: str, detail: str | None
    ) -> None:
        if not method.recorded:
            return
        try:
            await audit.record(
                self.core,
                caller,
                method=method.name,
                target=target,
                outcome=outcome,
                detail=detail,
            )
        except (psycopg.Error, psycopg_pool.PoolTimeout):
            log.exception("could not write the audit entry for %s by %s", method.name, caller.name)


def _target(method: Method, raw: dict[str, Any]) -> str | None:
    if method.target is None:
        return None
    value = raw.get(method.target)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if _SAFE_TARGET.fullmatch(text) else "(invalid)"
