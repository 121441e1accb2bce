"""What each public address answers, and to whom: the hosts' firewalls read as one table, and
the routes a user of each public site opens.

Render (firehol rules), `check` (the listing of what is open to any address), the docs (the
exposure table and the topology diagram) and verify (the outside view) all read this table,
so what is declared, what is enforced and what is proven from outside cannot differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitbc_infra.fleet import Fleet
from aitbc_infra.model import Route, Site, SiteTarget


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
        for opening in host.firewall.open:
            found.append(Exposure(host.node, address, opening.port, opening.name,
                                  tuple(opening.allow), _as_declared(fleet, opening.allow)))
        for fwd in host.firewall.forwards:
            to = fleet.forward(host, fwd)
            svc = fleet.forwarded_service(fwd)
            found.append(Exposure(host.node, address, fwd.port,
                                  f"{fwd.node}:{fwd.port} ({svc.unit if svc else '?'})",
                                  tuple(fwd.allow), _as_declared(fleet, fwd.allow), to.authority))
    return sorted(found, key=lambda e: (list(fleet.hosts).index(e.node), e.port))


def _as_declared(fleet: Fleet, allow: list[str]) -> tuple[str, ...] | None:
    """The address or network of each declared source, in the declared order (`who` pairs
    them); None: any address."""
    networks = [fleet.source_network(s) for s in allow]
    return None if None in networks else tuple(n for n in networks if n)


def describe(exposure: Exposure) -> str:
    return f"{exposure.node} {exposure.address}:{exposure.port} {exposure.what} <- {exposure.who}"


@dataclass(frozen=True)
class UserRoute:
    """A route as a user of a public TLS site opens it, and what the model says they get."""

    node: str  # the public host answering
    address: str  # its public address
    site: Site  # the public site (its server_name is what the user asks for)
    route: Route  # the route answering: the site's own, or that of the site behind it

    @property
    def url(self) -> str:
        return f"https://{self.site.server_name}{self.route.probe_path}"

    @property
    def redirect(self) -> str | None:
        """Where a redirect route sends the user: always on the site's own name."""
        return f"https://{self.site.server_name}{self.route.to}" if self.route.to else None


def user_routes(fleet: Fleet) -> list[UserRoute]:
    """Every route a user opens on each public TLS site: its own routes, and through a route
    that proxies to another host's nginx site, that site's routes (but those the public site
    answers itself)."""
    found = []
    for host in fleet.hosts.values():
        if host.public_address is None:
            continue
        for site in (s for s in host.nginx_sites if s.tls):
            own = {r.location for r in site.routes if not isinstance(r.target, SiteTarget)}
            for route in site.routes:
                if isinstance(route.target, SiteTarget):
                    behind = fleet.hosts[route.target.node or host.node].plain_site
                    routes = [r for r in behind.routes if r.location not in own] if behind else []
                else:
                    routes = [route]
                found += [UserRoute(host.node, str(host.public_address), site, r) for r in routes]
    return found
