"""The fleet as a Mermaid flowchart, for docs/infrastructure.md (GitHub renders it).

One subgraph per site (a host with a public address and the containers behind it); inside,
each host's nginx sites and listening services. Arrows: who may reach each public port (read
from `exposure.exposures`, never from the firewall data again), where each forward lands,
and where each nginx site proxies, with the routes' locations on the arrow.
"""

from __future__ import annotations

import re

from aitbc_infra import endpoints
from aitbc_infra.exposure import Exposure, exposures
from aitbc_infra.fleet import Fleet
from aitbc_infra.model import App, HostSpec, Service, Site, SiteTarget, UnitTarget

ANY_ID = "wan_any"

# Written as Mermaid entity codes inside a label. Every label is quoted, so '"' is what could
# end one early; '#' would start an entity of the data's making; '<' and '>' would be read as
# HTML; a backtick starts a Markdown string (and three would close the ```mermaid fence);
# brackets, braces and '|' are shape and edge-label syntax, kept out in case a label is ever
# written unquoted.
_ENTITIES = {'"': "#quot;", "#": "#35;", "&": "#38;", "<": "#60;", ">": "#62;", "`": "#96;",
             "[": "#91;", "]": "#93;", "{": "#123;", "}": "#125;", "|": "#124;"}


def text(value: object) -> str:
    """A value as label text: entity codes for the characters above, a space for any control
    character (a line break would end the statement)."""
    return "".join(_ENTITIES.get(c, " " if c < " " or c == "\x7f" else c) for c in str(value))


def label(*lines: object) -> str:
    """A quoted label, one line per value (the line breaks are ours, not the data's)."""
    return '"' + "<br/>".join(text(line) for line in lines) + '"'


def _slug(name: str) -> str:
    """The readable part of an id: Mermaid ids are safest as letters, digits and '_'. The index
    in front of it keeps ids unique where two names differ only in other characters."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


class Ids:
    """Every node's Mermaid id, made once so that declarations and arrows agree."""

    def __init__(self, fleet: Fleet):
        self.hosts: dict[str, str] = {}
        self.sites: dict[tuple[str, int], str] = {}
        self.services: dict[tuple[str, str], str] = {}
        for i, host in enumerate(fleet.hosts.values()):
            hid = self.hosts[host.node] = f"h{i}_{_slug(host.node)}"
            for j, _ in enumerate(host.nginx_sites):
                self.sites[(host.node, j)] = f"{hid}_nginx{j}"
            for k, (_, svc) in enumerate(_listening(host)):
                self.services[(host.node, svc.unit)] = f"{hid}_s{k}_{_slug(svc.unit)}"
        self.networks: dict[str, str] = {}

    def network(self, network: str) -> str:
        return self.networks.setdefault(network, f"net{len(self.networks)}_{_slug(network)}")


def _listening(host: HostSpec) -> list[tuple[App, Service]]:
    return [(app, svc) for app, svc in host.services if svc.port]


def _site_line(site: Site) -> str:
    return "443 TLS (80 redirects)" if site.tls else str(site.listen)


def _contents(host: HostSpec, ids: Ids, indent: str) -> list[str]:
    """The host's nginx sites and listening services, as nodes."""
    lines = [f"{indent}{ids.sites[(host.node, j)]}"
             f"[{label(f'nginx {site.server_name}', _site_line(site))}]"
             for j, site in enumerate(host.nginx_sites)]
    lines += [f"{indent}{ids.services[(host.node, svc.unit)]}"
              f"({label(svc.unit, endpoints.listen(host, svc).authority)})"
              for _, svc in _listening(host)]
    return lines


def _behind(host: HostSpec, ids: Ids, indent: str) -> list[str]:
    """A host without a public address: a subgraph of what runs on it."""
    # One line: Mermaid leaves no room for a second one in a subgraph's title.
    title = label(f"{host.node} {host.bridge_address or ''}".rstrip())
    return [f"{indent}subgraph {ids.hosts[host.node]}[{title}]",
            *_contents(host, ids, indent + "  "), f"{indent}end"]


def _site(fleet: Fleet, host: HostSpec, index: int, ids: Ids) -> list[str]:
    """A wan-facing host: its public address (the node arrows from the wan end at), what runs
    on it, and the containers behind it."""
    names = ", ".join(s.server_name for s in host.nginx_sites)
    title = label(f"site {host.node}: {names}" if names else f"site {host.node}")
    lines = [f"  subgraph site{index}_{_slug(host.node)}[{title}]",
             f"    {ids.hosts[host.node]}([{label(host.node, host.public_address)}])",
             *_contents(host, ids, "    ")]
    for container in fleet.reached_through(host.node):
        lines += _behind(container, ids, "    ")
    return lines + ["  end"]


def _forwarded(fleet: Fleet, exposure: Exposure, ids: Ids) -> str:
    """The service node a forwarded port lands on."""
    host = fleet.hosts[exposure.node]
    assert host.firewall is not None  # an exposure comes from a firewall
    fwd = next(f for f in host.firewall.forwards if f.port == exposure.port)
    svc = fleet.forwarded_service(fwd)
    assert svc is not None  # validation refuses a forward to no listener
    return ids.services[(fwd.node, svc.unit)]


def _exposure_arrows(fleet: Fleet, found: list[Exposure],
                     ids: Ids) -> dict[tuple[str, str], list[str]]:
    """(source, public host) -> the ports on that arrow: one arrow per source and host, so a
    host open to any address on three ports has one arrow listing the three."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for exposure in found:
        what = str(exposure.port) if exposure.forward_to else f"{exposure.port} {exposure.what}"
        if exposure.sources is None:
            sources = [ANY_ID]
        else:
            # A name stands for a peer's public host; anything else is an address or network.
            peers = [fleet.public_host(name) for name in exposure.allow]
            sources = [ids.hosts[peer.node] if peer else ids.network(network)
                       for peer, network in zip(peers, exposure.sources, strict=True)]
        for source in sources:
            arrows.setdefault((source, ids.hosts[exposure.node]), []).append(what)
    return arrows


def _forward_arrows(fleet: Fleet, found: list[Exposure], ids: Ids) -> list[str]:
    return [f"  {ids.hosts[e.node]} -->|{label(f'forward {e.port}')}| {_forwarded(fleet, e, ids)}"
            for e in found if e.forward_to]


def _route_target(fleet: Fleet, host: HostSpec, target: SiteTarget | UnitTarget,
                  ids: Ids) -> str:
    node = target.node or host.node
    if isinstance(target, UnitTarget):
        return ids.services[(node, target.unit)]
    # A site proxy reaches the plain site of its node (HostSpec.plain_site).
    plain = next(j for j, site in enumerate(fleet.hosts[node].nginx_sites) if not site.tls)
    return ids.sites[(node, plain)]


def _route_arrows(fleet: Fleet, ids: Ids) -> dict[tuple[str, str], list[str]]:
    """(nginx site, upstream) -> the proxy routes' locations: one arrow per upstream."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for host in fleet.hosts.values():
        for j, site in enumerate(host.nginx_sites):
            for route in site.routes:
                if route.target is not None:
                    upstream = _route_target(fleet, host, route.target, ids)
                    arrows.setdefault((ids.sites[(host.node, j)], upstream), []).append(
                        route.location)
    return arrows


def _arrows(arrows: dict[tuple[str, str], list[str]]) -> list[str]:
    return [f"  {a} -->|{label(', '.join(items))}| {b}" for (a, b), items in arrows.items()]


def mermaid(fleet: Fleet) -> list[str]:
    """The flowchart's lines, without the fence."""
    ids = Ids(fleet)
    found = exposures(fleet)
    exposed = _exposure_arrows(fleet, found, ids)
    lines = ["flowchart LR"]
    if any(source == ANY_ID for source, _ in exposed):
        lines.append(f"  {ANY_ID}(({label('any address')}))")
    lines += [f"  {nid}{{{{{label(network)}}}}}" for network, nid in ids.networks.items()]
    for i, host in enumerate(fleet.hosts.values()):
        if host.public_address is not None:
            lines += _site(fleet, host, i, ids)
        elif fleet.jump_host(host.node) is None:
            lines += _behind(host, ids, "  ")  # behind no host of the inventory
    lines += _arrows(exposed) + _forward_arrows(fleet, found, ids)
    lines += [f"  {ids.hosts[host.node]} -->|{label(_site_line(site))}| {ids.sites[(host.node, j)]}"
              for host in fleet.hosts.values() if host.public_address is not None
              for j, site in enumerate(host.nginx_sites)]
    return lines + _arrows(_route_arrows(fleet, ids))
