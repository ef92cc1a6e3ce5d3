"""`deployctl domains ...`: custom domains and their certificates."""

from __future__ import annotations

from typing import Annotated

import typer

from deployd.protocol.domains import (
    DomainInfo,
    DomainsAttachParams,
    DomainsDetachResult,
    DomainsListResult,
    DomainsVerifyResult,
)

from .. import render
from ..session import JsonFlag, session

app = typer.Typer(help="Domains: custom names for an app, with HTTPS.", no_args_is_help=True)

ACME_WAIT = 600.0
"""An issuance can take a while with a busy CA."""


@app.command("list")
def list_domains(name: str, json: JsonFlag = False) -> None:
    """An app's domains: DNS, certificate issuer and expiry, redirect."""
    result: DomainsListResult = session(json).call("domains.list", {"app": name})
    if json:
        render.emit_json(result)
        return
    if not result.domains:
        render.out().print(render.text(f"{name} has no domains (attach one with `domains attach`)"))
        return
    render.table(
        ["DOMAIN", "DNS", "TLS", "ISSUER", "EXPIRES", "REDIRECT", "PROBLEM"],
        [
            [
                d.domain,
                {True: "ok", False: "wrong", None: "-"}[d.dns_ok],
                "https" + (" +hsts" if d.hsts else "") if d.tls else "-",
                _issuer(d.issuer),
                render.when(d.not_after) if d.not_after else "-",
                "http → https" if d.redirect else "-",
                d.last_error or "",
            ]
            for d in result.domains
        ],
    )


def _issuer(issuer: str | None) -> str:
    if not issuer:
        return "-"
    parts = dict(p.split("=", 1) for p in issuer.split(",") if "=" in p)
    return parts.get("CN") or parts.get("O") or issuer


@app.command("attach")
def attach(
    name: str,
    domain: str,
    tls: Annotated[
        bool, typer.Option("--tls", help="Issue a certificate (ACME) and serve HTTPS.")
    ] = False,
    hsts: Annotated[
        bool, typer.Option("--hsts", help="With --tls: browsers use HTTPS only (one year).")
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Attach even if DNS does not point here yet.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Attach DOMAIN to the app: check its DNS, issue a certificate, switch nginx."""
    state = session(json)
    params = DomainsAttachParams(
        app=name, domain=domain, tls=tls, hsts=hsts, verify_dns=not no_verify
    )
    if not json:
        step = "checking DNS, issuing a certificate" if tls else "checking DNS"
        render.err().print(render.text(f"→ {step} for {domain} …"))
    with state.connect(timeout=ACME_WAIT) as client:
        result: DomainInfo = client.call("domains.attach", params)
    if json:
        render.emit_json(result)
        return
    render.success(f"✓ {result.domain} serves {name}: {result.url}")
    if result.tls and result.not_after:
        render.out().print(
            render.text(f"  certificate valid until {render.when(result.not_after)}")
        )


@app.command("verify")
def verify(name: str, domain: str, json: JsonFlag = False) -> None:
    """Check the domain's DNS now and say exactly what is wrong."""
    result: DomainsVerifyResult = session(json).call(
        "domains.verify", {"app": name, "domain": domain}
    )
    if json:
        render.emit_json(result)
    elif result.ok:
        render.success(f"✓ {result.detail}")
    else:
        render.failure(f"✗ {result.detail}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("detach")
def detach(name: str, domain: str, json: JsonFlag = False) -> None:
    """Stop serving the app at DOMAIN (its certificate is deleted)."""
    result: DomainsDetachResult = session(json).call(
        "domains.detach", {"app": name, "domain": domain}
    )
    if json:
        render.emit_json(result)
        return
    render.success(f"detached {result.domain} from {result.app}")
