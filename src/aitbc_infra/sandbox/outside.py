"""The outside view: a machine on the sandbox's wan that is none of ours, as an attacker has.

A network namespace with one veth plugged into the wan bridge, an address of its own there, and
routes to every container network through the host that carries it, as a machine on the
hosts' segment of the internet would set them. Everything it reaches is a sandbox address.
It is made for one look and removed after (`outside()`), and `sandbox down` removes a leftover.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from aitbc_infra.sandbox.network import link_exists
from aitbc_infra.sandbox.plan import NET_PREFIX, WAN, Plan
from aitbc_infra.sandbox.ssh import current_plan

NETNS = "aitbc-outside"
VETH = "aitbc-out0"  # the wan side; inside the namespace the peer is "wan0"
# The top of the wan segment: hosts are numbered from .2 upwards (plan.FIRST_HOST).
ADDRESS = f"{NET_PREFIX}.0.254"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def routes(plan: Plan) -> list[tuple[str, str]]:
    """(container network, the wan address of the host carrying it) for every container."""
    wan_address = {m.name: m.links[0].address for m in plan.machines if m.proxy_jump is None}
    found = {}
    for m in plan.machines:
        if m.proxy_jump is not None:
            subnet = next(b.subnet for b in plan.bridges if b.name == m.links[0].bridge)
            found[subnet] = wan_address[m.proxy_jump]
    return sorted(found.items())


def remove() -> None:
    """Remove the namespace and its veth, if a look left them (idempotent)."""
    if NETNS in _ip("netns", "list").stdout.split():
        _ip("netns", "del", NETNS)
    if link_exists(VETH):
        _ip("link", "del", VETH, check=False)


def create(plan: Plan) -> str:
    if any(m.links[0].address == ADDRESS for m in plan.machines):
        raise RuntimeError(f"{ADDRESS} is a machine's address: the outside view needs it")
    remove()
    _ip("netns", "add", NETNS)
    _ip("link", "add", VETH, "type", "veth", "peer", "name", "wan0", "netns", NETNS)
    _ip("link", "set", VETH, "master", WAN.name, "up")
    inside = ("netns", "exec", NETNS, "ip")
    _ip(*inside, "addr", "add", f"{ADDRESS}/{WAN.prefix}", "dev", "wan0")
    _ip(*inside, "link", "set", "wan0", "up")
    _ip(*inside, "link", "set", "lo", "up")
    for subnet, via in routes(plan):
        _ip(*inside, "route", "add", subnet, "via", via)
    return NETNS


@contextmanager
def outside(plan: Plan) -> Iterator[str]:
    """The namespace's name while the block runs; gone after, whatever happened."""
    try:
        yield create(plan)
    finally:
        remove()


@contextmanager
def outside_view() -> Iterator[str]:
    """The outside view of the running sandbox."""
    plan = current_plan()
    if not plan.machines:
        raise RuntimeError("no sandbox is up: `aitbc-infra sandbox up` first")
    with outside(plan) as netns:
        yield netns
