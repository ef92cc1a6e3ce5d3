"""`domains.*`: attach a domain to an app (DNS checked, a certificate issued with --tls),
list, verify and detach. A refused or failed attach changes nothing: the app keeps serving
on its old configuration, and the attempt is recorded as an event."""

from __future__ import annotations

import asyncio
import logging

import psycopg

from deployd.domain import domains as rules
from deployd.domain.errors import DomainError
from deployd.engine import sites
from deployd.protocol.domains import (
    DomainInfo,
    DomainParams,
    DomainsAttachParams,
    DomainsDetachResult,
    DomainsListParams,
    DomainsListResult,
    DomainsVerifyResult,
)
from deployd.protocol.errors import conflict, invalid, not_found, unavailable
from deployd.protocol.events import EventType
from deployd.proxy import dns
from deployd.proxy.acme import AcmeError
from deployd.proxy.nginx import ProxyError
from deployd.store import apps as app_store
from deployd.store import domains as store
from deployd.store.db import Row

from .core import Caller, Core

log = logging.getLogger(__name__)


def _name(domain: str) -> str:
    try:
        return rules.normalize(domain)
    except DomainError as exc:
        raise invalid(str(exc)) from None


def _info(core: Core, row: Row) -> DomainInfo:
    nginx = core.platform.nginx
    port, default = (nginx.https_port, 443) if row["tls"] else (nginx.http_port, 80)
    suffix = "" if port == default else f":{port}"
    state = rules.CertState(row["not_after"], row["failures"], row["last_attempt_at"])
    return DomainInfo(
        domain=row["name"],
        app=row["app"],
        url=f"{'https' if row['tls'] else 'http'}://{row['name']}{suffix}/",
        tls=row["tls"],
        hsts=row["hsts"],
        redirect=row["tls"],
        dns_ok=row["dns_ok"],
        dns_detail=row["dns_detail"],
        dns_checked_at=row["dns_checked_at"],
        issuer=row["issuer"],
        not_after=row["not_after"],
        last_error=row["last_error"],
        failures=row["failures"],
        next_attempt_at=rules.retry_at(state),
    )


async def _check_dns(core: Core, name: str) -> dns.DnsCheck:
    settings = core.settings
    accepted = set(settings.public_addresses) or await asyncio.to_thread(dns.host_addresses)
    return await asyncio.to_thread(dns.check, name, servers=settings.dns_servers, accepted=accepted)


async def _refuse(core: Core, caller: Caller, app: str, name: str, why: str) -> None:
    await core.bus.publish(
        EventType.DOMAIN_REFUSED,
        f"{name} was not attached to {app}: {why}",
        app=app,
        actor=caller.name,
        data={"domain": name, "reason": why},
    )


async def list_domains(core: Core, caller: Caller, params: DomainsListParams) -> DomainsListResult:
    async with core.pool.connection() as conn:
        if await app_store.get(conn, params.app) is None:
            raise not_found(f"no app named {params.app}")
        rows = await store.for_app(conn, params.app)
    return DomainsListResult(app=params.app, domains=[_info(core, r) for r in rows])


async def attach(core: Core, caller: Caller, params: DomainsAttachParams) -> DomainInfo:
    name, app, platform = _name(params.domain), params.app, core.platform
    if params.hsts and not params.tls:
        raise invalid("--hsts needs --tls: HSTS only means something over HTTPS")
    existing = await _may_attach(core, app, name, params.tls)
    checked = None
    if params.verify_dns:
        checked = await _check_dns(core, name)
        if not checked.ok:
            await _refuse(core, caller, app, name, checked.detail)
            raise conflict(checked.detail)
    if params.tls:  # outside the app's lock: a CA can take minutes, deploys need not wait
        try:
            await asyncio.to_thread(platform.certbot.issue, name)
        except AcmeError as exc:
            why = f"the certificate could not be issued: {exc}"
            await _refuse(core, caller, app, name, why)
            raise unavailable(why) from None
    async with platform.lock(app):  # one change to an app's site at a time
        existing = await _may_attach(core, app, name, params.tls)  # still, after the wait
        row = await _save_and_serve(core, caller, app, name, params, existing, checked)
    await core.bus.publish(
        EventType.DOMAIN_ATTACHED,
        f"{name} serves {app}" + (" over HTTPS" if params.tls else ""),
        app=app,
        actor=caller.name,
        data={"domain": name, "tls": params.tls},
    )
    return _info(core, row)


async def _may_attach(core: Core, app: str, name: str, tls: bool) -> Row | None:
    """The domain's row if it is attached to `app` already (and now gets TLS); refuses a
    domain another app has, one attached as asked already, another app's own name."""
    async with core.pool.connection() as conn:
        if await app_store.get(conn, app) is None:
            raise not_found(f"no app named {app}")
        existing = await store.get(conn, name)
    if existing is not None and existing["app"] != app:
        raise conflict(f"{name} is attached to {existing['app']}: detach it there first")
    if existing is not None and (existing["tls"] or not tls):
        raise conflict(f"{name} is already attached to {app}")
    if name == core.settings.control_domain:
        raise conflict(f"{name} is deployd's own name (DEPLOYD_CONTROL_DOMAIN): no app may have it")
    owner = rules.address_owner(name, core.settings.base_domain)
    if owner is not None and owner != app:
        raise conflict(
            f"{name} is under {owner}.{core.settings.base_domain}, the address of the app "
            f"named {owner} (whether it exists yet or not)"
        )
    return existing


async def _save_and_serve(
    core: Core,
    caller: Caller,
    app: str,
    name: str,
    params: DomainsAttachParams,
    existing: Row | None,
    checked: dns.DnsCheck | None,
) -> Row:
    """Record the domain (and its certificate), then put it in the app's site; if nginx
    refuses the new site, the record is undone and the old site keeps serving."""
    platform = core.platform
    cert = platform.certbot.installed(name) if params.tls else None
    async with core.pool.connection() as conn, conn.transaction():
        if existing is None:
            try:
                await store.insert(
                    conn,
                    name=name,
                    app=app,
                    tls=params.tls,
                    hsts=params.hsts,
                    created_by=caller.name,
                )
            except psycopg.errors.UniqueViolation:  # another app took it a moment ago
                raise conflict(f"{name} was just attached to another app") from None
        else:
            await store.set_tls(conn, name, tls=params.tls, hsts=params.hsts)
        if cert is not None:
            await store.save_certificate(
                conn,
                name,
                issuer=cert.issuer,
                serial=cert.serial,
                not_before=cert.not_before,
                not_after=cert.not_after,
            )
    try:
        await _apply_site(core, app)
    except ProxyError as exc:
        async with core.pool.connection() as conn:
            if existing is None:
                await store.delete(conn, name)
            else:
                await store.set_tls(conn, name, tls=existing["tls"], hsts=existing["hsts"])
        raise unavailable(f"nginx refused the new configuration, nothing changed: {exc}") from None
    try:  # the default TLS server, once a certificate exists; the site does not need it
        await sites.apply_baseline(platform)
    except ProxyError as exc:
        log.error("nginx refused deployd's baseline: %s", exc)
    if checked is not None:
        async with core.pool.connection() as conn:
            await store.record_dns(conn, name, checked.ok, checked.detail)
    async with core.pool.connection() as conn:
        row = await store.get(conn, name)
    assert row is not None
    return row


async def _apply_site(core: Core, app: str, *, without: str | None = None) -> None:
    """Render the app's site again (`without` one of its domains), if it has one: an app
    never deployed has none yet, its first deploy renders it with its domains."""
    platform = core.platform
    if platform.nginx.current(app) is None:
        return
    site = await sites.site_for(platform, app, without=without)
    await asyncio.to_thread(platform.nginx.apply, app, platform.nginx.render(site))


async def verify(core: Core, caller: Caller, params: DomainParams) -> DomainsVerifyResult:
    name = _name(params.domain)
    async with core.pool.connection() as conn:
        row = await store.get(conn, name)
    if row is None or row["app"] != params.app:
        raise not_found(f"{name} is not attached to {params.app}")
    checked = await _check_dns(core, name)
    async with core.pool.connection() as conn:
        await store.record_dns(conn, name, checked.ok, checked.detail)
    return DomainsVerifyResult(
        domain=name, ok=checked.ok, addresses=list(checked.addresses), detail=checked.detail
    )


async def detach(core: Core, caller: Caller, params: DomainParams) -> DomainsDetachResult:
    name, app, platform = _name(params.domain), params.app, core.platform
    async with platform.lock(app):
        async with core.pool.connection() as conn:
            row = await store.get(conn, name)
            if row is None or row["app"] != app:
                raise not_found(f"{name} is not attached to {app}")
        try:  # nginx first: if it refuses, nothing has moved
            await _apply_site(core, app, without=name)
        except ProxyError as exc:
            raise unavailable(f"nginx refused the site without {name}: {exc}") from None
        async with core.pool.connection() as conn:
            await store.delete(conn, name)
        try:
            await sites.apply_baseline(platform)
        except ProxyError as exc:
            log.error("nginx refused deployd's baseline: %s", exc)
        if row["tls"]:
            await asyncio.to_thread(platform.certbot.delete, name)
    await core.bus.publish(
        EventType.DOMAIN_DETACHED,
        f"{name} no longer serves {params.app}",
        app=params.app,
        actor=caller.name,
        data={"domain": name},
    )
    return DomainsDetachResult(domain=name, app=params.app)
