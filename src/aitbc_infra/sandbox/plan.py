"""The sandbox address plan: the one table every other sandbox module reads.

The bridges and addresses of README.md "The sandbox". Production addresses, and which node
plays which role, live in inventory.py, never here.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def ssh_address(self) -> str:
        # Hosts are reached on their "internet" (wan) address, containers on their only link.
        return self.links[0].address


WAN = Bridge("aitbc-wan", "10.231.0.0/24", control_address="10.231.0.1/24")
A1 = Bridge("aitbc-a1", "10.231.223.0/24")  # at1's incusbr (production 10.1.223.0/24)
N3 = Bridge("aitbc-n3", "10.231.100.0/24")  # ns3's incusbr0 (production 192.168.100.0/24)
BRIDGES: tuple[Bridge, ...] = (WAN, A1, N3)

# Everything the sandbox uses; the control side routes it nowhere but the bridges.
SANDBOX_NET = "10.231.0.0/16"
CONTROL_IP = "10.231.0.1"  # the control machine; only on aitbc-wan, so containers stay hidden

MACHINES: tuple[Machine, ...] = (
    Machine("at1", (Link(WAN.name, "10.231.0.2", "host0"),
                    Link(A1.name, "10.231.223.1", "a1", host_ifname="sb-at1-a1"))),
    Machine("ns3-root", (Link(WAN.name, "10.231.0.3", "host0"),
                         Link(N3.name, "10.231.100.1", "n3", host_ifname="sb-ns3-n3"))),
    Machine("aitbc", (Link(A1.name, "10.231.223.93", "host0"),),
            gateway="10.231.223.1", proxy_jump="at1"),
    Machine("ns3-aitbc", (Link(N3.name, "10.231.100.10", "host0"),),
            gateway="10.231.100.1", proxy_jump="ns3-root"),
)
MACHINE_NAMES = tuple(m.name for m in MACHINES)

# Names every machine resolves through /etc/hosts (no DNS server in the sandbox).
HOSTS_ENTRIES: tuple[tuple[str, str], ...] = (
    ("10.231.0.2", "aitbc.bubuit.net"),
    ("10.231.0.3", "aitbc.keisanki.net"),
    (CONTROL_IP, "acme.sandbox"),
)

# ACME test server (pebble) on the control side of aitbc-wan.
PEBBLE_ACME_PORT = 14000
PEBBLE_MGMT_PORT = 15000
CHALLTESTSRV_DNS_PORT = 8053  # pebble resolves challenge names here, not through the host
CHALLTESTSRV_MGMT_PORT = 8055



def inventory_addresses(m: Machine) -> dict[str, str]:
    """Address facts the deploy reads, derived from the links so they are written once."""
    if len(m.links) > 1:  # a host: wan address is public, the second link is its incus bridge
        wan, bridge = m.links[0], m.links[1]
        return {"public_address": wan.address, "bridge_address": bridge.address,
                "wan_interface": wan.ifname, "bridge_interface": bridge.ifname}
    return {"bridge_address": m.links[0].address}


def machine(name: str) -> Machine:
    for m in MACHINES:
        if m.name == name:
            return m
    raise KeyError(name)
