"""Does a domain point here? Its A and AAAA records, from configurable resolvers, against
the addresses that count as this host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.resolver
import psutil


@dataclass(frozen=True, slots=True)
class DnsCheck:
    ok: bool
    addresses: tuple[str, ...]
    detail: str


def host_addresses() -> set[str]:
    """This host's own addresses that a DNS record could name (not loopback, not link-local)."""
    found = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address.address.split("%")[0])
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_link_local):
                found.add(str(ip))
    return found


def _resolver(servers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    if not servers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = []
        for server in servers:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else ("", "", "")
            resolver.nameservers.append(host or server)
            if port:
                resolver.nameserver_ports[host] = int(port)
    resolver.lifetime = timeout
    return resolver


def check(
    domain: str, *, servers: tuple[str, ...], accepted: set[str], timeout: float = 5.0
) -> DnsCheck:
    """Every A/AAAA record of `domain` must be one of `accepted`: an address elsewhere would
    send some visitors (and the CA's validation) to another machine."""
    resolver = _resolver(servers, timeout)
    addresses: list[str] = []
    for kind in ("A", "AAAA"):
        try:
            answer = resolver.resolve(domain, kind)
        except dns.resolver.NXDOMAIN:
            return DnsCheck(False, (), f"{domain} does not exist in DNS (NXDOMAIN)")
        except (dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.Timeout:
            return DnsCheck(False, (), f"no DNS answer for {domain} within {timeout:g}s")
        addresses += [record.to_text() for record in answer]
    here = ", ".join(sorted(accepted)) or "none known: set DEPLOYD_PUBLIC_ADDRESSES"
    if not addresses:
        return DnsCheck(False, (), f"{domain} has no A or AAAA record: point it at {here}")
    elsewhere = [a for a in addresses if a not in accepted]
    if elsewhere:
        return DnsCheck(
            False,
            tuple(addresses),
            f"{domain} resolves to {', '.join(elsewhere)}, which is not this host ({here}): "
            "change its DNS records, or list this host's public address in "
            "DEPLOYD_PUBLIC_ADDRESSES if it is behind NAT",
        )
    return DnsCheck(True, tuple(addresses), f"{domain} points here ({', '.join(addresses)})")
