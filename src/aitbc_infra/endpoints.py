"""Addresses: where a service listens on its own host, and where a process elsewhere reaches it.

This is the one place that turns a service's `bind` and the hosts' bridge addresses into an
address. Render (sockets, nginx upstreams, env URLs, firewall forwards), the health table, the
deploy's health gate, the docs and the verify suite all ask here, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from aitbc_infra.model import HostSpec, Service

LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"


class Unreachable(LookupError):
    """A service asked for from where it cannot be reached (validation refuses such data)."""


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int
    scheme: str = "http"

    @property
    def authority(self) -> str:
        """address:port, as nginx's proxy_pass, systemd's ListenStream and firehol take it."""
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}"


def listen(host: HostSpec, svc: Service) -> Endpoint:
    """The socket `svc` binds on its own host."""
    if svc.port is None:
        raise Unreachable(f"host {host.node}: service {svc.unit} has no port")
    if svc.bind == "loopback":
        return Endpoint(LOOPBACK, svc.port)
    if svc.bind == "any":
        return Endpoint(ANY, svc.port)
    return Endpoint(str(host.bridge_address), svc.port)


def candidate(host: HostSpec, svc: Service) -> Endpoint:
    """The scratch socket a candidate release of `svc` listens on, beside the live one."""
    return Endpoint(LOOPBACK, host.candidate_port(svc))


def reach(from_node: str, host: HostSpec, svc: Service) -> Endpoint:
    """Where a process on `from_node` connects to `svc` on `host`.

    On the same host: the address it binds, 127.0.0.1 for a bind to every address. From
    another host: the bridge address, which a loopback-only service does not listen on.
    """
    bound = listen(host, svc)
    if from_node == host.node:
        return Endpoint(LOOPBACK, bound.port) if bound.address == ANY else bound
    if svc.bind == "loopback":
        raise Unreachable(f"service {svc.unit} on {host.node} listens on loopback only; "
                          f"{from_node} cannot reach it")
    return Endpoint(str(host.bridge_address), bound.port)
