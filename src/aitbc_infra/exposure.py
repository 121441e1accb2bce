"""What each public address answers, and to whom: the hosts' firewalls read as one table.

Render (firehol rules), `check` (the listing of what is open to any address), the docs (the
exposure table and the topology diagram) and verify (the outside view) all read this table,
so what is declared, what is enforced and what is proven from outside cannot differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitbc_infra.fleet import Fleet


@dataclass(frozen=True)
class Exposure:
    node: str  # the host whose public address answers
    address: str
    port: int
    what: str  # "ssh", "https", or the forward's target "ns3-aitbc:8000"
    allow: tuple[str, ...]  # as declared: "any", site and node names, networks
    sources: tuple[str, ...] | None  # resolved addresses and networks; None: any address
    forward_to: str | None = None  # a forward's destination address:port

    @property
    def to_any(self) -> bool:
        return self.sources is None

    @property
    def who(self) -> str:
        """Who may reach it: "any address", or each declared source with the address or
        network it stands for when that differs ("aitbc.bubuit.net (127.0.0.1)")."""
        if self.sources is None:
            return "any address"
        return ", ".join(f"{a} ({s})" if a != s else a
                         for a, s in zip(self.allow, self.sources, strict=True))


def exposures(fleet: Fleet) -> list[Exposure]:
    """Every open port of every public address, hosts in inventory order, ports ascending."""
    found = []
    for host in fleet.hosts.values():
        if host.firewall is None or host.public_address is None:
            continue
        address = str(host.public_address)

        def resolved(allow: list[str]) -> tuple[str, ...] | None:
            networks = [fleet.source_network(s) for s in allow]
            return None if None in networks else tuple(n for n in networks if n)

        for opening in host.firewall.open:
            found.append(Exposure(host.node, address, opening.port, opening.name,
                                  tuple(opening.allow), resolved(opening.allow)))
        for fwd in host.firewall.forwards:
            to = fleet.forward(host, fwd)
            svc = fleet.forwarded_service(fwd)
            found.append(Exposure(host.node, address, fwd.port,
                                  f"{fwd.node}:{fwd.port} ({svc.unit if svc else '?'})",
                                  tuple(fwd.allow), resolved(fwd.allow), to.authority))
    return sorted(found, key=lambda e: (list(fleet.hosts).index(e.node), e.port))


def open_to(exposure: Exposure, source: str | None) -> bool:
    """Whether `source` (an address; None: an unknown address) is admitted."""
    if exposure.sources is None:
        return True
    return source is not None and source in exposure.sources


def describe(exposure: Exposure) -> str:
    return f"{exposure.node} {exposure.address}:{exposure.port} {exposure.what} <- {exposure.who}"
