"""The one endpoint resolver: where each service listens and where others reach it."""

import pytest

from aitbc_infra.endpoints import Endpoint, Unreachable, listen, reach
from aitbc_infra.model import SiteTarget, UnitTarget


def _svc(fleet, node, unit):
    return fleet.find_service(node, unit)[1]


def _route(fleet, node, location):
    return next(r for s in fleet.hosts[node].nginx_sites for r in s.routes if r.location == location)


def test_same_host_loopback(fleet):
    # coordinator-api binds loopback in the container: its own nginx reaches it there.
    assert fleet.endpoint("aitbc", "aitbc", "coordinator-api") == Endpoint("127.0.0.1", 8000)
    assert fleet.upstream(fleet.hosts["aitbc"], _route(fleet, "aitbc", "/api/")).authority \
        == "127.0.0.1:8000"


def test_cross_host_goes_over_the_bridge(fleet):
    # The container's /v1/ route reaches at1's mock coordinator on at1's bridge address.
    assert fleet.endpoint("aitbc", "at1", "aitbc-mock-coordinator") == Endpoint("10.1.223.1", 8090)
    assert fleet.upstream(fleet.hosts["aitbc"], _route(fleet, "aitbc", "/v1/")).authority \
        == "10.1.223.1:8090"


def test_bridge_bind_is_reached_on_the_bridge_even_locally(fleet):
    # It listens on the bridge only: 127.0.0.1 would find nothing, on its own host too.
    assert listen(fleet.hosts["at1"], _svc(fleet, "at1", "aitbc-mock-coordinator")) \
        == Endpoint("10.1.223.1", 8090)
    assert fleet.endpoint("at1", "at1", "aitbc-mock-coordinator").url == "http://10.1.223.1:8090"


def test_bind_any_listens_everywhere_and_is_reached_on_loopback_locally(fleet):
    # No service of the production data binds every address any more: one made to.
    host = fleet.hosts["aitbc"]
    svc = _svc(fleet, "aitbc", "aitbc-trade-exchange").model_copy(update={"bind": "any"})
    assert listen(host, svc) == Endpoint("0.0.0.0", 3002)
    assert reach("aitbc", host, svc) == Endpoint("127.0.0.1", 3002)
    assert reach("at1", host, svc) == Endpoint("10.1.223.93", 3002)


def test_loopback_service_is_unreachable_from_another_host(fleet):
    with pytest.raises(Unreachable, match="coordinator-api on aitbc listens on loopback only"):
        fleet.endpoint("at1", "aitbc", "coordinator-api")


def test_nginx_site_target_is_typed_and_resolved_to_the_bridge(fleet):
    route = _route(fleet, "at1", "/")
    assert route.target == SiteTarget("aitbc")
    assert fleet.upstream(fleet.hosts["at1"], route) == Endpoint("10.1.223.93", 80)
    assert _route(fleet, "aitbc", "/v1/").target == UnitTarget("at1", "aitbc-mock-coordinator")
    assert _route(fleet, "aitbc", "/").target is None  # static: not a proxy


def test_proxied_by_names_the_routes_to_a_site(fleet):
    assert [(h.node, r.location) for h, _, r in fleet.proxied_by("aitbc")] == [("at1", "/")]
    assert fleet.proxied_by("at1") == []


def test_forward_reaches_the_container_listener(fleet):
    host = fleet.hosts["ns3-root"]
    fwd = next(f for f in host.firewall.forwards if f.port == 8082)
    assert fleet.forwarded_service(fwd).unit == "aitbc-blockchain-rpc-3"
    assert fleet.forward(host, fwd) == Endpoint("192.168.100.10", 8082)


def test_peer_urls(fleet):
    host = fleet.hosts["aitbc"]
    assert fleet.peer_url(host, "aitbc.keisanki.net") == "https://aitbc.keisanki.net"
    assert fleet.peer_url(host, "aitbc-blockchain-rpc-1") == "http://127.0.0.1:8081"
