"""MX lookup for --mx and :connect --mx, with dnspython (imported only here).

Owns: the domain's mail servers in preference order (RFC 5321 §5.1: no MX
means the domain itself; a null MX means no mail, RFC 7505) and their
addresses, asked of the system's resolver or of --nameserver.
Must not: connect; the Engine tries the hosts in turn.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConnectionFailed

if TYPE_CHECKING:
    from dns.asyncresolver import Resolver

__all__ = ["MailHost", "mail_hosts"]


@dataclass(frozen=True)
class MailHost:
    name: str  # the MX host name: what TLS verifies
    preference: int
    addresses: tuple[str, ...]


async def mail_hosts(domain: str, nameserver: tuple[str, int] | None, family: int,
                     timeout: float) -> list[MailHost]:
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    resolver = dns.asyncresolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        resolver.nameservers, resolver.port = [nameserver[0]], nameserver[1]
    resolver.lifetime = timeout
    try:
        try:
            answer = await resolver.resolve(domain, "MX")
            records = sorted((r.preference, r.exchange.to_text().rstrip(".")) for r in answer)
        except dns.resolver.NoAnswer:
            records = [(0, domain)]  # no MX: the domain itself (RFC 5321 §5.1)
        if records == [(0, "")]:
            raise ConnectionFailed(f"{domain} accepts no mail: it publishes a null MX "
                                   "(RFC 7505)")
        return [MailHost(name, pref, await _addresses(resolver, name, family))
                for pref, name in records]
    except dns.resolver.NXDOMAIN:
        raise ConnectionFailed(f"the domain {domain} does not exist (NXDOMAIN)",
                               "check the spelling") from None
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as err:
        raise ConnectionFailed(f"cannot look up the MX of {domain}: {err}",
                               "check the network, or --nameserver ADDR") from None


async def _addresses(resolver: Resolver, name: str, family: int) -> tuple[str, ...]:
    import dns.resolver

    kinds = {int(socket.AF_INET): ["A"], int(socket.AF_INET6): ["AAAA"]}.get(family,
                                                                          ["AAAA", "A"])
    found: list[str] = []
    for kind in kinds:
        try:
            found += [r.to_text() for r in await resolver.resolve(name, kind)]
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
    return tuple(found)
