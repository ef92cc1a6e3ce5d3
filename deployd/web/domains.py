"""An app's domains from its page: attach (TLS, HSTS, DNS checked first), check DNS now,
detach. The daemon validates the name and does the work; its refusal is the error page."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from deployd.protocol.domains import (
    DomainInfo,
    DomainParams,
    DomainsAttachParams,
    DomainsDetachResult,
    DomainsVerifyResult,
)

from .guard import Visit, action
from .pages import app_name


def _back(name: str) -> Response:
    return RedirectResponse(f"/apps/{name}#domains", status_code=303)


def _named(visit: Visit, fields: dict[str, str], doing: str) -> DomainParams:
    try:
        return DomainParams(app=app_name(visit.request), domain=fields.get("domain", "").strip())
    except ValidationError:
        raise HTTPException(400, f"name the domain to {doing}") from None


@action
async def attach(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    try:
        params = DomainsAttachParams(
            app=name,
            domain=fields.get("domain", "").strip(),
            tls="tls" in fields,
            hsts="hsts" in fields,
            verify_dns="verify_dns" in fields,
        )
    except ValidationError:
        raise HTTPException(400, "name the domain to attach") from None
    info = await visit.daemon.call(DomainInfo, "domains.attach", params)
    visit.session.notice = f"{info.domain} attached to {name}: {info.url}"
    return _back(name)


@action
async def verify(visit: Visit, fields: dict[str, str]) -> Response:
    """DNS checked now: the answer says what points where (and is kept for the table)."""
    params = _named(visit, fields, "check")
    found = await visit.daemon.call(DomainsVerifyResult, "domains.verify", params)
    points = ", ".join(found.addresses) or "nothing"
    verdict = "DNS ok" if found.ok else "DNS not ready"
    visit.session.notice = f"{found.domain}: {verdict}: {found.detail} (points at {points})."
    return _back(params.app)


@action
async def detach(visit: Visit, fields: dict[str, str]) -> Response:
    params = _named(visit, fields, "detach")
    gone = await visit.daemon.call(DomainsDetachResult, "domains.detach", params)
    visit.session.notice = f"{gone.domain} detached from {params.app}."
    return _back(params.app)
