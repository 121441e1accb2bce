"""The sandbox address plan, derived from an inventory: one machine per host and container.

Nothing here names a host: the machines, bridges and addresses follow from the model by one
rule, so a site added to the inventory is a site added to the sandbox.

The rule:
- The "internet" is the bridge aitbc-wan, 10.231.0.0/24: the control machine is .1, the hosts
  (nodes with a public_address) are .2, .3, ... in inventory order.
- A host's incus bridge, production a.b.c.d/P (P >= 24), becomes the bridge aitbc-brC with
  10.231.c.0/24: every address on it keeps its last octet (at1's 10.1.223.1 -> 10.231.223.1,
  the container 10.1.223.93 -> 10.231.223.93). Two hosts whose bridges share c are refused.
- A container (a node without a public_address) sits on the bridge of the host whose bridge
  holds its bridge_address, routes through that host and is reached through it (ProxyJump),
  as in production: Fleet.jump_host, the rule each host's sshd forwarding follows too.
- Each public site name resolves (through /etc/hosts, and pebble's DNS) to the wan address of
  the host serving it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address

from aitbc_infra.fleet import Fleet
from aitbc_infra.model import DEBIAN_RELEASES, HostSpec

# The Debian releases the sandbox's machines can boot (image.py builds one image per release):
# each machine boots its host's `debian`.
SANDBOX_DEBIAN = (12, 13)


@dataclass(frozen=True)
class Bridge:
    name: str
    subnet: str  # e.g. "10.231.0.0/24"
    control_address: str | None = None  # address of the control machine on it, with prefix

    @property
    def prefix(self) -> str:
        return self.subnet.split("/")[1]


@dataclass(frozen=True)
class Link:
    """One network interface of a machine: which bridge, its address, its name inside."""

    bridge: str
    address: str  # without prefix
    ifname: str  # name inside the machine ("host0" for nspawn's main veth)
    host_ifname: str | None = None  # control-side veth name, only for --network-veth-extra


@dataclass(frozen=True)
class Machine:
    name: str
    links: tuple[Link, ...]  # first link = --network-bridge (host0), the rest = veth-extra
    gateway: str | None = None  # default route; None = no default route (no internet anyway)
    proxy_jump: str | None = None  # containers are only reachable through their host
    debian: int = 12  # the Debian release it boots: its host's (one image per release)

    @property
    def ssh_address(self) -> str:
        # Hosts are reached on their "internet" (wan) address, containers on their only link.
        return self.links[0].address


class PlanError(ValueError):
    """The inventory cannot be laid out by the rule; the message names the host and field."""


NET_PREFIX = "10.231"
SANDBOX_NET = f"{NET_PREFIX}.0.0/16"  # everything the sandbox uses; routed nowhere but bridges
CONTROL_IP = f"{NET_PREFIX}.0.1"  # the control machine; only on aitbc-wan: containers stay hidden
WAN = Bridge("aitbc-wan", f"{NET_PREFIX}.0.0/24", control_address=f"{CONTROL_IP}/24")
FIRST_HOST = 2  # .1 is the control machine
WAN_IFNAME = "host0"  # nspawn's main veth inside the machine
ACME_NAME = "acme.sandbox"  # pebble's listener, on the control machine

# ACME test server (pebble) on the control side of aitbc-wan.
PEBBLE_ACME_PORT = 14000
PEBBLE_MGMT_PORT = 15000
PEBBLE_SHORT_LIVED_PORT = 14001  # a second pebble a test starts: short-lived certificates
CHALLTESTSRV_DNS_PORT = 8053  # pebble resolves challenge names here, not through the host
CHALLTESTSRV_MGMT_PORT = 8055


@dataclass(frozen=True)
class Plan:
    bridges: tuple[Bridge, ...]
    machines: tuple[Machine, ...]  # hosts first: a container boots and is reached after its host
    hosts_entries: tuple[tuple[str, str], ...]  # (address, name) every machine resolves

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.machines)

    def machine(self, name: str) -> Machine:
        for m in self.machines:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        raw = json.loads(text)
        return cls(
            bridges=tuple(Bridge(**b) for b in raw["bridges"]),
            machines=tuple(Machine(m["name"], tuple(Link(**link) for link in m["links"]),
                                   m["gateway"], m["proxy_jump"], m.get("debian", 12))
                           for m in raw["machines"]),
            hosts_entries=tuple(tuple(e) for e in raw["hosts_entries"]),
        )


def _is_host(spec: HostSpec) -> bool:
    return spec.public_address is not None


def _bridge_octet(spec: HostSpec) -> int:
    """The c of a host's bridge a.b.c.d: its sandbox subnet is 10.231.c.0/24."""
    address = spec.bridge_address
    assert address is not None
    where = f"host {spec.node}: bridge_address {address}/{spec.bridge_prefix}"
    if spec.bridge_prefix < 24:
        raise PlanError(f"{where}: the sandbox lays out bridges of /24 or narrower")
    octet = address.packed[2]
    if octet == 0:
        raise PlanError(f"{where}: would map to {NET_PREFIX}.0.0/24, the sandbox's internet")
    return octet


def _mapped(address: IPv4Address, octet: int) -> str:
    return f"{NET_PREFIX}.{octet}.{address.packed[3]}"


def plan_for(fleet: Fleet) -> Plan:
    """The sandbox standing in for `fleet`; PlanError when the rule cannot place a node."""
    other = [s.node for s in fleet.hosts.values() if s.debian not in SANDBOX_DEBIAN]
    if other:
        raise PlanError(f"host(s) {', '.join(other)}: debian {fleet.hosts[other[0]].debian}; the "
                        "sandbox's machines run Debian "
                        + " or ".join(f"{d} ({DEBIAN_RELEASES[d].codename})" for d in SANDBOX_DEBIAN))
    hosts = [s for s in fleet.hosts.values() if _is_host(s)]
    if len(hosts) > 254 - FIRST_HOST:
        raise PlanError(f"{len(hosts)} hosts do not fit on {WAN.subnet}")
    bridges, machines, octets = [WAN], [], {}
    for i, spec in enumerate(hosts):
        links = [Link(WAN.name, f"{NET_PREFIX}.0.{FIRST_HOST + i}", WAN_IFNAME)]
        if spec.bridge_address is not None:
            octet = _bridge_octet(spec)
            if octet in octets.values():
                other = next(node for node, o in octets.items() if o == octet)
                raise PlanError(f"hosts {other} and {spec.node}: both bridges "
                                f"map to {NET_PREFIX}.{octet}.0/24 (the sandbox keeps the third "
                                "octet); give one of them another subnet")
            octets[spec.node] = octet
            bridge = Bridge(f"aitbc-br{octet}", f"{NET_PREFIX}.{octet}.0/24")
            bridges.append(bridge)
            links.append(Link(bridge.name, _mapped(spec.bridge_address, octet),
                              spec.bridge_interface, host_ifname=f"aitbc-v{octet}"))
        machines.append(Machine(spec.node, tuple(links), debian=spec.debian))
    for spec in fleet.hosts.values():
        if _is_host(spec):
            continue
        machines.append(_container(fleet, spec, octets))
    return Plan(tuple(bridges), tuple(machines), _hosts_entries(hosts, machines))


def _container(fleet: Fleet, spec: HostSpec, octets: dict[str, int]) -> Machine:
    """A container on the bridge of the host it is reached through (Fleet.jump_host)."""
    address = spec.bridge_address
    if address is None:
        raise PlanError(f"host {spec.node}: neither public_address nor bridge_address: the "
                        "sandbox cannot place it")
    host = fleet.jump_host(spec.node)
    if host is None or host.bridge_address is None:
        raise PlanError(f"host {spec.node}: bridge_address {address} lies on no host's bridge "
                        "(a container needs the host it runs on in the inventory)")
    octet = octets[host.node]
    return Machine(spec.node, (Link(f"aitbc-br{octet}", _mapped(address, octet), WAN_IFNAME),),
                   gateway=_mapped(host.bridge_address, octet), proxy_jump=host.node,
                   debian=spec.debian)


def _hosts_entries(hosts: list[HostSpec], machines: list[Machine]) -> tuple[tuple[str, str], ...]:
    served: dict[str, str] = {}
    for spec, m in zip(hosts, machines, strict=False):  # machines begin with the hosts
        for site in spec.nginx_sites:
            if site.server_name in spec.sites:
                served.setdefault(site.server_name, m.ssh_address)
    return (*((addr, name) for name, addr in served.items()), (CONTROL_IP, ACME_NAME))


def inventory_addresses(m: Machine) -> dict[str, str]:
    """Address facts the deploy reads, derived from the links so they are written once."""
    if len(m.links) > 1 or m.proxy_jump is None:  # a host: its wan address is public
        wan = m.links[0]
        facts = {"public_address": wan.address, "wan_interface": wan.ifname}
        if len(m.links) > 1:
            bridge = m.links[1]
            facts |= {"bridge_address": bridge.address, "bridge_interface": bridge.ifname}
        return facts
    return {"bridge_address": m.links[0].address}
