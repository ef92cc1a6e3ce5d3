"""What an app's nginx site must say, from the store: its slots' ports, its own name, the
domains attached to it and which of them have a certificate. And the baseline every site
relies on, which serves HTTPS once any certificate exists."""

from __future__ import annotations

import asyncio
import ipaddress

from deployd.domain.slots import SLOT_NAMES
from deployd.proxy.nginx import Baseline, Control, Live, Site
from deployd.store import domains as domain_store
from deployd.store import processes as process_store
from deployd.store.db import Row

from .platform import Platform


def site_of(platform: Platform, app: str, ports: dict[str, list[int]], domains: list[Row]) -> Site:
    tls = tuple(d["name"] for d in domains if d["tls"])
    return Site(
        app,
        tuple(ports.get("blue", ())),
        tuple(ports.get("green", ())),
        (platform.hostname(app), *(d["name"] for d in domains if not d["tls"])),
        tls_names=tls,
        hsts_names=tuple(d["name"] for d in domains if d["tls"] and d["hsts"]),
        max_body_size=platform.settings.max_body_size,
        trusted_proxies=platform.settings.trusted_proxies,
    )


async def site_for(platform: Platform, app: str, *, without: str | None = None) -> Site:
    """The app's site as the store says it is (`without` one of its domains)."""
    async with platform.pool.connection() as conn:
        domains = [d for d in await domain_store.for_app(conn, app) if d["name"] != without]
        ports = {slot: await process_store.web_ports(conn, app, slot) for slot in SLOT_NAMES}
    return site_of(platform, app, ports, domains)


async def open_site(platform: Platform, app: str) -> None:
    """A new app's site, before it has a release: its address answers 503 "not deployed
    yet" (never another app's content, never a dropped connection)."""
    await asyncio.to_thread(platform.nginx.switch, app, None, "new")
    site = platform.nginx.render(await site_for(platform, app))
    await asyncio.to_thread(platform.nginx.apply, app, site)


async def serve(platform: Platform, app: str, live: Live | None, parked: str = "down") -> None:
    """Send the app's traffic to `live` (None: park it, saying why): the site first when
    its ports changed (the switch may name an upstream only the new site defines), then the
    switch, which needs no reload."""
    site = platform.nginx.render(await site_for(platform, app))
    if platform.nginx.current(app) != site:
        await asyncio.to_thread(platform.nginx.apply, app, site)
    await asyncio.to_thread(platform.nginx.switch, app, live, parked)


async def apply_baseline(platform: Platform) -> bool:
    """Bring the baseline in line with the store (HTTPS once any certificate exists) and
    the settings (deployd's own name, `DEPLOYD_CONTROL_DOMAIN`, served by `deployd web`)."""
    async with platform.pool.connection() as conn:
        https = bool(await domain_store.with_certificates(conn))
    baseline = Baseline(https=https, control=control(platform))
    return await asyncio.to_thread(platform.nginx.apply_baseline, baseline)


def control(platform: Platform) -> Control | None:
    settings = platform.settings
    if not settings.control_domain:
        return None
    pem = platform.certbot.pem_path(settings.control_domain)
    address = ipaddress.ip_address(settings.web_listen)
    if address.is_unspecified:  # listening everywhere: loopback is one of them
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    host = f"[{address}]" if address.version == 6 else str(address)
    return Control(
        name=settings.control_domain,
        upstream=f"{host}:{settings.web_port}",
        pem=pem if pem.exists() else None,
    )
