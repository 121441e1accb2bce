"""The Mermaid topology diagram: every site, host, container, public port and route is on it,
and no value of the data can leave its quoted label.

The diagram's lines are read back with a grammar of the only statements it may hold (quoted
labels everywhere), and what they say is compared with the fleet: the public ports with
`exposure.exposures`, the forwards with `Fleet.forwarded_service`, the routes with the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.exposure import exposures
from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import Opening, Route, SiteTarget, UnitTarget
from aitbc_infra.topology import label, mermaid, text

INVENTORIES = ["inventory.py", "examples/three-sites/inventory.py"]

_ID = r"[A-Za-z0-9_]+"
_LABEL = r'"(?P<label>[^"]*)"'
_NODE = re.compile(rf"(?P<id>{_ID})(?P<open>\(\[|\(\(|\{{\{{|\[|\(){_LABEL}(?P<close>[\])}}]+)")
_SHAPES = {"([": "])", "((": "))", "{{": "}}", "[": "]", "(": ")"}
_SUBGRAPH = re.compile(rf"subgraph (?P<id>{_ID})\[{_LABEL}\]")
_EDGE = re.compile(rf"(?P<a>{_ID}) -->\|{_LABEL}\| (?P<b>{_ID})")


@dataclass
class Diagram:
    nodes: dict[str, str] = field(default_factory=dict)  # id -> label
    subgraphs: dict[str, str] = field(default_factory=dict)  # id -> label
    parent: dict[str, str | None] = field(default_factory=dict)  # node or subgraph -> subgraph
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, label, to)

    def node(self, wanted: str) -> str:
        [nid] = [nid for nid, lab in self.nodes.items() if lab == wanted]
        return nid

    def subgraph(self, wanted: str) -> str:
        [sid] = [sid for sid, lab in self.subgraphs.items() if lab == wanted]
        return sid

    def labels(self, a: str, b: str) -> list[str]:
        """The items of the arrow from a to b (one arrow per pair, its items joined by ', ')."""
        [lab] = [lab for x, lab, y in self.edges if (x, y) == (a, b)]
        return lab.split(", ")


def parse(lines: list[str]) -> Diagram:
    """Every line is one of the statements below, or the test fails naming it."""
    assert lines[0] == "flowchart LR"
    d = Diagram()
    stack: list[str] = []
    for line in lines[1:]:
        statement = line.strip()
        if statement == "end":
            stack.pop()
        elif m := _SUBGRAPH.fullmatch(statement):
            assert m["id"] not in d.subgraphs and m["id"] not in d.nodes, line
            d.subgraphs[m["id"]] = m["label"]
            d.parent[m["id"]] = stack[-1] if stack else None
            stack.append(m["id"])
        elif m := _EDGE.fullmatch(statement):
            assert not stack, f"an arrow inside a subgraph would move its nodes: {line}"
            d.edges.append((m["a"], m["label"], m["b"]))
        elif (m := _NODE.fullmatch(statement)) and _SHAPES[m["open"]] == m["close"]:
            assert m["id"] not in d.nodes and m["id"] not in d.subgraphs, line
            d.nodes[m["id"]] = m["label"]
            d.parent[m["id"]] = stack[-1] if stack else None
        else:
            pytest.fail(f"not a statement of the diagram: {line!r}")
    assert not stack, "a subgraph is not closed"
    assert all(a in d.nodes and b in d.nodes for a, _, b in d.edges), "an arrow to no node"
    return d


def _decode(label_text: str) -> str:
    return re.sub(r"#(quot|\d+);",
                  lambda m: '"' if m[1] == "quot" else chr(int(m[1])), label_text)


def _with_networks(fleet: Fleet) -> Fleet:
    """ns4-root's SSH also open to two networks and a peer: sources that are no host."""
    host = fleet.hosts["ns4-root"]
    opening = Opening(port=2222, name="ssh_alt", allow=["198.51.100.0/24", "ns3-root",
                                                         "203.0.113.7"])
    firewall = host.firewall.model_copy(update={"open": [*host.firewall.open, opening]})
    return Fleet({**fleet.hosts, host.node: host.model_copy(update={"firewall": firewall})})


@pytest.fixture(scope="module", params=[*INVENTORIES, "with networks"])
def case(request) -> tuple[Fleet, Diagram]:
    if request.param == "with networks":
        fleet = _with_networks(load_fleet(PROJECT_ROOT / INVENTORIES[1]))
    else:
        fleet = load_fleet(PROJECT_ROOT / request.param)
    return fleet, parse(mermaid(fleet))


def _host_node(fleet: Fleet, d: Diagram, node: str) -> str:
    return d.node(f"{node}<br/>{fleet.hosts[node].public_address}")


def _home(fleet: Fleet, d: Diagram, node: str) -> str:
    """The subgraph a host's sites and services are drawn in: its site's, or its own."""
    host = fleet.hosts[node]
    if host.public_address is not None:
        return d.parent[_host_node(fleet, d, node)]
    return d.subgraph(f"{node} {host.bridge_address}")


def _in(d: Diagram, where: str, prefix: str) -> list[str]:
    return [n for n, lab in d.nodes.items() if lab.startswith(prefix) and d.parent[n] == where]


def test_every_site_is_a_subgraph_with_its_public_host_and_containers(case):
    fleet, d = case
    public = [h for h in fleet.hosts.values() if h.public_address is not None]
    assert public
    for host in public:
        site = d.parent[_host_node(fleet, d, host.node)]
        assert site is not None and d.subgraphs[site].startswith(f"site {host.node}")
        assert d.parent[site] is None
        for container in fleet.reached_through(host.node):
            sub = d.subgraph(f"{container.node} {container.bridge_address}")
            assert d.parent[sub] == site
    containers = [h for h in fleet.hosts.values() if h.public_address is None]
    assert len(d.subgraphs) == len(public) + len(containers)


def test_every_listening_service_and_nginx_site_is_on_its_host(case):
    fleet, d = case
    for host in fleet.hosts.values():
        where = _home(fleet, d, host.node)
        for _, svc in host.services:
            assert len(_in(d, where, f"{svc.unit}<br/>")) == (1 if svc.port else 0), svc.unit
        for site in host.nginx_sites:
            assert _in(d, where, f"nginx {site.server_name}<br/>"), site.server_name


def test_every_exposure_has_an_arrow_from_each_source(case):
    fleet, d = case
    found = exposures(fleet)
    assert any(e.to_any for e in found)
    for e in found:
        target = _host_node(fleet, d, e.node)
        if e.sources is None:
            sources = [d.node("any address")]
        else:
            sources = [_host_node(fleet, d, peer.node) if (peer := fleet.public_host(name))
                       else d.node(network) for name, network in zip(e.allow, e.sources, strict=True)]
        item = str(e.port) if e.forward_to else f"{e.port} {e.what}"
        for source in sources:
            assert item in d.labels(source, target), (e, source)


def test_every_forward_points_at_the_service_it_reaches(case):
    fleet, d = case
    forwards = [(host, fwd) for host in fleet.hosts.values() if host.firewall
                for fwd in host.firewall.forwards]
    assert forwards
    for host, fwd in forwards:
        svc = fleet.forwarded_service(fwd)
        [target] = _in(d, _home(fleet, d, fwd.node), f"{svc.unit}<br/>")
        assert d.labels(_host_node(fleet, d, host.node), target) == [f"forward {fwd.port}"]


def test_every_proxy_route_is_on_the_arrow_to_its_upstream(case):
    fleet, d = case
    for host in fleet.hosts.values():
        for site in host.nginx_sites:
            [start] = _in(d, _home(fleet, d, host.node), f"nginx {site.server_name}<br/>")
            for route in site.routes:
                target = route.target
                if target is None:
                    continue
                node = target.node or host.node
                if isinstance(target, UnitTarget):
                    [upstream] = _in(d, _home(fleet, d, node), f"{target.unit}<br/>")
                else:
                    assert isinstance(target, SiteTarget)
                    plain = fleet.hosts[node].plain_site
                    [upstream] = _in(d, _home(fleet, d, node), f"nginx {plain.server_name}<br/>")
                assert route.location in d.labels(start, upstream), (host.node, route.location)


def test_ids_are_plain_and_labels_quoted(case):
    _, d = case  # parse() holds every statement to the grammar: ids [A-Za-z0-9_], labels "..."
    assert d.nodes and d.edges
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", i) for i in [*d.nodes, *d.subgraphs])


@pytest.mark.parametrize("value", ['a"b', 'x"]) --> wan_any', "#quot;", "a|b", "[x]", "<b>",
                                   "```", "{{x}}", "&lt;", "tab\there", "line\nbreak"])
def test_a_label_holds_any_value(value):
    quoted = label(value)
    assert re.fullmatch(r'"[^"#<>\[\]{}|`\n\t]*(#(quot|\d+);[^"#<>\[\]{}|`\n\t]*)*"', quoted)
    assert _decode(quoted[1:-1]) == value.replace("\n", " ").replace("\t", " ")


def test_names_the_model_allows_are_written_as_they_are():
    assert text("aitbc-blockchain-rpc-3_x.example:8082/v1/") == "aitbc-blockchain-rpc-3_x.example:8082/v1/"
    assert label("a", "b") == '"a<br/>b"'


def test_a_hostile_location_stays_in_its_label():
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    host = fleet.hosts["aitbc"]
    site = host.nginx_sites[0]
    # One the model accepts, and one it would refuse (a quote and a line break), built past it.
    accepted = Route(location="/x]|<b>`&[(-->end", type="proxy", service="coordinator-api")
    refused = Route.model_construct(location='/y"]) --> wan_any\n%% #quot;', match="prefix",
                                    type="proxy", service="coordinator-api", node=None)
    routes = [*site.routes, accepted, refused]
    hosts = {**fleet.hosts, "aitbc": host.model_copy(update={"nginx_sites": [
        site.model_copy(update={"routes": routes})]})}
    d = parse(mermaid(Fleet(hosts)))
    [items] = [_decode(lab).split(", ") for _, lab, b in d.edges
               if d.nodes[b].startswith("coordinator-api<br/>127.0.0.1")]
    assert accepted.location in items
    assert refused.location.replace("\n", " ") in items
