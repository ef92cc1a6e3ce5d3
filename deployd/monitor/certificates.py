"""Certificate renewal: every `acme_check_interval` (a day) each certificate's expiry is
looked at; one with fewer than `acme_renew_days` left is renewed through certbot, and the
new one is served from the next TLS handshake (nginx reads it per handshake: no reload).
A failed renewal is recorded, raised as an event, shown by `deployctl status`, and tried
again after a back-off (`domain/domains.py`), a few times a day at most."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from deployd.domain.domains import CertState, renewal_due, retry_at
from deployd.engine import sites
from deployd.engine.platform import Platform
from deployd.protocol.events import EventType
from deployd.proxy.acme import AcmeError, describe
from deployd.store import domains as store
from deployd.store.db import Row

log = logging.getLogger(__name__)

CONTROL_RETRY_SECONDS = 600.0
"""After a failed try at deployd's own name's certificate, the next one."""


class Renewer:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.control_failed = False
        """The last try at deployd's own name's certificate failed."""

    async def run(self) -> None:
        while True:
            try:
                await self.check_all()
            except Exception:
                log.exception("certificate check failed; trying again later")
            interval = self.platform.settings.acme_check_interval
            if self.control_failed:  # webhooks wait for it: sooner than a day
                interval = min(interval, CONTROL_RETRY_SECONDS)
            await asyncio.sleep(interval)

    async def control(self) -> bool:
        """deployd's own name (`DEPLOYD_CONTROL_DOMAIN`): its certificate issued when there
        is none, renewed when due, then served (the baseline); True if attempted."""
        platform = self.platform
        domain = platform.settings.control_domain
        if not domain:
            return False
        pem = platform.certbot.pem_path(domain)
        now = datetime.now(UTC)
        try:
            not_after = describe(pem.read_bytes(), domain).not_after
        except (OSError, ValueError):
            not_after = None
        if not_after is not None and not_after - now > timedelta(
            days=platform.settings.acme_renew_days
        ):
            return False
        try:
            cert = await asyncio.to_thread(
                platform.certbot.issue, domain, renew=not_after is not None
            )
        except AcmeError as exc:
            self.control_failed = True
            await platform.bus.publish(
                EventType.CERT_RENEWAL_FAILED,
                f"the certificate of {domain} (deployd's own name) could not be issued: {exc}"
                f" (tried again in {CONTROL_RETRY_SECONDS / 60:.0f} minutes)",
                actor="deployd",
                data={"domain": domain},
            )
            return True
        self.control_failed = False
        await sites.apply_baseline(platform)
        await platform.bus.publish(
            EventType.CERT_RENEWED,
            f"{domain} (deployd's own name) has a certificate until {cert.not_after:%Y-%m-%d}",
            actor="deployd",
            data={"domain": domain, "not_after": cert.not_after.isoformat()},
        )
        return True

    async def check_all(self) -> int:
        """Renew what is due; returns how many were attempted."""
        try:
            await self.control()
        except Exception:
            log.exception("the certificate of deployd's own name could not be checked")
        async with self.platform.pool.connection() as conn:
            rows = await store.with_certificates(conn)
        now = datetime.now(UTC)
        before = timedelta(days=self.platform.settings.acme_renew_days)
        attempted = 0
        for row in rows:
            state = CertState(row["not_after"], row["failures"], row["last_attempt_at"])
            if renewal_due(state, now, before):
                attempted += 1
                try:
                    await self.renew(row)
                except Exception:  # one broken certificate must not stop the others'
                    log.exception("renewing the certificate of %s failed", row["name"])
        return attempted

    async def renew(self, row: Row) -> None:
        platform, domain, app = self.platform, row["name"], row["app"]
        try:
            cert = await asyncio.to_thread(platform.certbot.issue, domain, renew=True)
        except AcmeError as exc:
            async with platform.pool.connection() as conn:
                await store.record_failure(conn, domain, str(exc))
                failed = await store.get(conn, domain)
            retry = (
                retry_at(
                    CertState(failed["not_after"], failed["failures"], failed["last_attempt_at"])
                )
                if failed
                else None
            )
            await platform.emit(
                EventType.CERT_RENEWAL_FAILED,
                f"the certificate of {domain} could not be renewed: {exc}",
                app,
                domain=domain,
                not_after=row["not_after"].isoformat() if row["not_after"] else None,
                retry_at=retry.isoformat() if retry else None,
            )
            return
        async with platform.pool.connection() as conn:
            await store.save_certificate(
                conn,
                domain,
                issuer=cert.issuer,
                serial=cert.serial,
                not_before=cert.not_before,
                not_after=cert.not_after,
            )
        await platform.emit(
            EventType.CERT_RENEWED,
            f"the certificate of {domain} was renewed; valid until {cert.not_after:%Y-%m-%d}",
            app,
            domain=domain,
            serial=cert.serial,
            not_after=cert.not_after.isoformat(),
        )
