"""The perimeter as data: who may reach each public port, refused when unsaid or unknown,
rendered into firehol's rules, listed by `check`; routes' probes and statuses; the catch-all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.exposure import exposures, user_routes
from aitbc_infra.fleet import ModelError
from aitbc_infra.render import render_fleet


def _problems(data) -> str:
    with pytest.raises(ModelError) as error:
        data.load()
    return str(error.value)


def test_every_production_forward_admits_the_peer_site_only(fleet):
    forwards = [e for e in exposures(fleet) if e.forward_to]
    assert {e.port for e in forwards} == {8000, 8081, 8082, 9080}
    at1 = str(fleet.hosts["at1"].public_address)
    assert all(e.allow == ("aitbc.bubuit.net",) and e.sources == (at1,) for e in forwards)
    # Open to any address: the hosts' own SSH, HTTP and HTTPS, nothing else.
    assert {(e.node, e.port) for e in exposures(fleet) if e.to_any} == {
        (n, p) for n in ("at1", "ns3-root") for p in (22, 80, 443)}


def test_firehol_restricts_each_forward_and_its_dnat_to_its_sources(fleet):
    conf = {f.path: f for f in render_fleet(fleet)["ns3-root"]}["/etc/firehol/firehol.conf"].content
    at1 = fleet.hosts["at1"].public_address
    assert f'dnat4 to 192.168.100.10:8000 inface eth0 proto tcp dport 8000 src "{at1}"' in conf
    assert f'route custom aitbc-8000 "tcp/8000" default accept dst 192.168.100.10 src "{at1}"' in conf
    assert 'server custom ssh "tcp/22" default accept\n' in conf  # any address: no src
    assert "policy drop" in conf


def test_at1_gets_a_firewall_too_with_no_forward(fleet):
    conf = {f.path: f for f in render_fleet(fleet)["at1"]}["/etc/firehol/firehol.conf"].content
    assert "dnat4" not in conf and "route custom" not in conf
    assert "interface4 eth0 wan\n    policy drop" in conf


def test_a_public_host_without_a_firewall_is_refused(data):
    del data.groups["incus_host"]["firewall"]
    message = _problems(data)
    assert "host at1" in message and "firewall" in message and "needs a firewall" in message


def test_allow_has_no_default_and_names_known_sources(data):
    field, fwd = data.forward("ns3_host", 8000)
    del fwd["allow"]
    assert f"{field}.allow" in _problems(data)
    fwd["allow"] = ["aitbc.example.org"]
    message = _problems(data)
    assert f"{field}.allow" in message and "'aitbc.example.org' is no site or node" in message
    fwd["allow"] = ["any", "at1"]
    assert "'any' admits everyone" in _problems(data)
    fwd["allow"] = ["203.0.113.0/24"]
    data.load()  # a network is a source


def test_a_site_on_a_port_its_host_does_not_open_is_refused(data):
    data.groups["ns3_host"]["firewall"]["open"] = [
        o for o in data.groups["ns3_host"]["firewall"]["open"] if o["port"] != 443]
    assert "site aitbc.keisanki.net listens on 443, which firewall.open does not open" in \
        _problems(data)


def test_check_lists_what_is_open_to_any_address_and_warns_of_a_loopback_source():
    out = subprocess.run([sys.executable, "-m", "aitbc_infra", "check"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True).stdout
    assert "open  ns3-root 95.216.198.140:443 https <- any address" in out
    assert "open  ns3-root 95.216.198.140:8000" not in out
    # The document's at1 is "localhost": a rule admitting it admits no packet from the wan.
    assert "warn  ns3-root 95.216.198.140:8000" in out and "a loopback source" in out


def test_user_routes_are_the_documents_routes_through_the_proxy_and_ns3s_own(fleet):
    routes = {(r.site.server_name, r.route.probe_path): r.route.expected_status
              for r in user_routes(fleet)}
    assert len([k for k in routes if k[0] == "aitbc.bubuit.net"]) == 18
    assert routes[("aitbc.bubuit.net", "/Exchange")] == 200
    assert routes[("aitbc.bubuit.net", "/admin/stats")] == 401
    assert routes[("aitbc.bubuit.net", "/exchange")] == 301
    assert routes[("aitbc.keisanki.net", "/rpc/head")] == 200


def test_a_probe_another_route_answers_is_refused(data):
    field, route = data.route("aitbc_container", "/api/")
    route["probe"] = "/api/users/x"  # /api/users/ answers that
    assert f"{field}.probe" in _problems(data)


def test_strip_prefix_rewrites_the_location_away(fleet):
    site = {f.path: f for f in render_fleet(fleet)["aitbc"]}[
        "/etc/nginx/sites-available/aitbc.bubuit.net"].content
    block = site[site.index("location /Exchange {"):]
    block = block[:block.index("}")]
    assert 'rewrite "^/Exchange/?(.*)$" /$1 break;' in block
    assert "proxy_pass http://127.0.0.1:3002;" in block


def test_every_nginx_host_has_a_catch_all_and_trusts_only_its_proxy(fleet):
    rendered = render_fleet(fleet)
    for node in ("at1", "aitbc", "ns3-root"):
        catch_all = {f.path: f for f in rendered[node]}["/etc/nginx/conf.d/aitbc-catch-all.conf"]
        assert "listen 80 default_server;" in catch_all.content and "return 444;" in catch_all.content
    assert "ssl_reject_handshake on;" in {f.path: f for f in rendered["at1"]}[
        "/etc/nginx/conf.d/aitbc-catch-all.conf"].content
    site = {f.path: f for f in rendered["aitbc"]}["/etc/nginx/sites-available/aitbc.bubuit.net"]
    assert "set_real_ip_from 10.1.223.1;" in site.content
    assert "$http_x_forwarded_proto" not in site.content  # never a client's word
