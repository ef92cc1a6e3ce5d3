"""`domains.*`: custom domains of an app, and their certificates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from .apps import AppName
from .common import Params, Result

DomainName = Annotated[str, StringConstraints(min_length=1, max_length=600)]
"""As typed (unicode allowed); the daemon checks it and stores its IDNA form."""


class DomainsListParams(Params):
    app: AppName


class DomainsAttachParams(Params):
    app: AppName
    domain: DomainName
    tls: bool = False
    """Issue a certificate (ACME, http-01) and serve HTTPS; plain HTTP redirects."""
    hsts: bool = False
    """With TLS: tell browsers to use HTTPS only (Strict-Transport-Security, one year)."""
    verify_dns: bool = True
    """Refuse a domain whose DNS does not point at this host."""


class DomainParams(Params):
    app: AppName
    domain: DomainName


class DomainInfo(Result):
    domain: str
    app: str
    url: str
    tls: bool
    hsts: bool
    redirect: bool
    """Plain HTTP is redirected to HTTPS."""
    dns_ok: bool | None
    dns_detail: str | None
    dns_checked_at: datetime | None
    issuer: str | None
    not_after: datetime | None
    last_error: str | None
    """Why the last issuance or renewal failed (cleared by the next success)."""
    failures: int
    next_attempt_at: datetime | None = None


class DomainsListResult(Result):
    app: str
    domains: list[DomainInfo]


class DomainsVerifyResult(Result):
    domain: str
    ok: bool
    addresses: list[str]
    detail: str


class DomainsDetachResult(Result):
    domain: str
    app: str
