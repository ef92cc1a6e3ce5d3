"""What an app's nginx site must say, from the store: its slots' ports, its own name, the
domains attached to it and which of them have a certificate. And the baseline every site
relies on, which serves HTTPS once any certificate exists."""

from __future__ import annotations

import asyncio

from deployd.proxy.nginx import Baseline, Site
from deployd.store import domains as domain_store
from deployd.store.db import Row

from .platform import Platform


def site_of(platform: Platform, app: str, by_name: dict[str, Row], domains: list[Row]) -> Site:
    tls = tuple(d["name"] for d in domains if d["tls"])
    return Site(
        app,
        by_name["blue"]["port"],
        by_name["green"]["port"],
        (platform.hostname(app), *(d["name"] for d in domains if not d["tls"])),
        tls_names=tls,
        hsts_names=tuple(d["name"] for d in domains if d["tls"] and d["hsts"]),
        max_body_size=platform.settings.max_body_size,
        trusted_proxies=platform.settings.trusted_proxies,
    )


async def site_for(platform: Platform, app: str, by_name: dict[str, Row]) -> Site:
    async with platform.pool.connection() as conn:
        domains = await domain_store.for_app(conn, app)
    return site_of(platform, app, by_name, domains)


async def open_site(platform: Platform, app: str, by_name: dict[str, Row]) -> None:
    """A new app's site, before it has a release: its address answers 503 "not deployed
    yet" (never another app's content, never a dropped connection)."""
    await asyncio.to_thread(platform.nginx.switch, app, None, "new")
    site = platform.nginx.render(await site_for(platform, app, by_name))
    await asyncio.to_thread(platform.nginx.apply, app, site)


async def apply_baseline(platform: Platform) -> bool:
    """Bring the baseline in line with the store (HTTPS once any certificate exists)."""
    async with platform.pool.connection() as conn:
        https = bool(await domain_store.with_certificates(conn))
    return await asyncio.to_thread(platform.nginx.apply_baseline, Baseline(https=https))
