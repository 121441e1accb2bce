"""Bridges on the control machine. Only the sandbox plan's bridges are ever created or removed;
eth0, the default route and the firewall are never touched."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from aitbc_infra.sandbox.plan import SANDBOX_NET, Bridge


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def bridges_up(bridges: tuple[Bridge, ...]) -> None:
    for br in bridges:
        if not link_exists(br.name):
            _ip("link", "add", br.name, "type", "bridge")
        # No IPv6 on the sandbox bridges: nothing uses it and it keeps the host's view tidy.
        Path(f"/proc/sys/net/ipv6/conf/{br.name}/disable_ipv6").write_text("1\n")
        if br.control_address:
            have = _ip("-o", "-4", "addr", "show", "dev", br.name).stdout
            if br.control_address not in have:
                _ip("addr", "add", br.control_address, "dev", br.name)
        _ip("link", "set", br.name, "up")
    # Without this, 10.231.223.x / 10.231.100.x (only behind at1 / ns3-root) would follow the
    # control machine's default route out of eth0: a "direct" connection to a container would
    # leak upstream (and hang) instead of failing at once. The /24 on aitbc-wan is more
    # specific and still wins.
    _ip("route", "replace", "unreachable", SANDBOX_NET)


def bridges_down(bridges: tuple[Bridge, ...], keep_route: bool = False) -> None:
    """Remove `bridges` (and the sandbox route, unless other bridges stay)."""
    if not keep_route:
        _ip("route", "del", "unreachable", SANDBOX_NET, check=False)
    # Deleting a bridge detaches (not deletes) its ports; the veths go with their machines.
    for br in bridges:
        if link_exists(br.name):
            _ip("link", "del", br.name)


def attach(host_ifname: str, bridge: str, timeout: float = 15.0) -> None:
    """Put a machine's extra veth into its second bridge, once nspawn has created it."""
    deadline = time.monotonic() + timeout
    while not link_exists(host_ifname):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host_ifname} did not appear (is the machine booting?)")
        time.sleep(0.05)
    _ip("link", "set", host_ifname, "master", bridge, "up")


def route_in_place() -> bool:
    return "unreachable" in _ip("route", "show", SANDBOX_NET).stdout


def is_attached(host_ifname: str, bridge: str) -> bool:
    master = Path(f"/sys/class/net/{host_ifname}/master")
    return master.exists() and master.resolve().name == bridge
