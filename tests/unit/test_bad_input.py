"""Each broken fact fails validation with a message naming host, field and value, and the
render command writes nothing.

Each case changes one fact of the loaded data in Python, finding it by its identity (an app's
name, a unit, a route's location, a forward's port), and computes the field path the message
must name from the same data: the cases do not depend on the order or layout of the files.
"""

import subprocess
import sys

import pytest

from aitbc_infra.fleet import ModelError
from aitbc_infra.model import Rollout


def duplicate_port(d):
    field, svc = d.service("aitbc_container", "aitbc-wallet-daemon")
    port = d.service("aitbc_container", "coordinator-api")[1]["port"]
    svc["port"] = port
    return ["host aitbc", f"port {port} already used", f"{field}.port"]


def route_to_unknown_service(d):
    field, route = d.route("aitbc_container", "/wallet/")
    route["service"] = "aitbc-wallet"
    return ["host aitbc", f"{field}.service", "'aitbc-wallet'"]


def redirect_loop(d):
    # /exchange redirects to /Exchange; make /Exchange redirect back.
    _, route = d.route("aitbc_container", "/Exchange")
    route.clear()
    route.update(location="/Exchange", match="exact", type="redirect", to="/exchange")
    return ["redirect loop", "/exchange → /Exchange → /exchange"]


def redirect_to_nowhere(d):
    field, route = d.route("aitbc_container", "/Marketplace")
    route["to"] = "/Marketplace-old"
    return ["host aitbc", f"{field}.to", "hits no route"]


def relative_path(d):
    field, app = d.app("aitbc_container", "exchange")
    app["root"] = "opt/exchange"
    return [f"{field}.root", "path must be absolute", "'opt/exchange'"]


def bad_address(d):
    d.host("aitbc")["bridge_address"] = "10.1.223.300"
    return ["host aitbc", "bridge_address", "10.1.223.300"]


def unit_name_with_space(d):
    field, svc = d.service("aitbc_container", "aitbc-wallet-daemon")
    svc["unit"] = "aitbc wallet daemon"
    return [f"{field}.unit", "'aitbc wallet daemon'"]


def unknown_group(d):
    d.inventory["ns3_staging"] = d.inventory.pop("ns3_container")
    return ["host ns3-aitbc", "unknown group 'ns3_staging'"]


def duplicate_location(d):
    field, site = d.site("aitbc_container", "/rpc/")
    route = d.route("aitbc_container", "/rpc/")[1]
    site["routes"].append({**route, "service": "aitbc-blockchain-rpc-2"})
    return [f"{field}.routes", "location '/rpc/' declared 2 times"]


def bad_user_name(d):
    field, app = d.app("aitbc_container", "trade-exchange")
    app["user"] = "Trade Desk"
    return [f"{field}.user", "'Trade Desk'"]


def undeclared_user(d):
    field, app = d.app("aitbc_container", "wallet-daemon")
    app["user"] = "aitbc-nobody"
    return [f"{field}.user", "'aitbc-nobody' is not declared"]


def forward_to_nothing(d):
    field, fwd = d.forward("ns3_host", 9080)
    fwd["port"] = 9090
    return ["host ns3-root", f"{field}.port", "port 9090"]


def cross_host_loopback(d):
    # The container's /v1/ route reaches at1's mock coordinator over the bridge.
    d.service("incus_host", "aitbc-mock-coordinator")[1]["bind"] = "loopback"
    field, _ = d.route("aitbc_container", "/v1/")
    return ["host aitbc", f"{field}.service", "listens on loopback only"]


def proxy_without_service(d):
    d.route("ns3_host", "/rpc/")[1].pop("service")
    return ["host ns3-root", "a proxy route needs service"]


def port_out_of_range(d):
    field, svc = d.service("aitbc_container", "aitbc-trade-exchange")
    svc["port"] = 70000
    return [f"{field}.port", "70000"]


def spa_output_outside_its_build(d):
    field, item = d.web_content("aitbc_container", "apps/explorer-web/dist")
    item["source"] = "website"
    return ["host aitbc", field, f"must be the output of build {item['build']!r}"]


def _candidate_offset(d) -> int:
    return d.groups["all"].get("rollout", {}).get("candidate_port_offset",
                                                  Rollout().candidate_port_offset)


def candidate_port_taken(d):
    # The trade exchange moves onto the port of the coordinator's candidate.
    coordinator, svc = d.service("aitbc_container", "coordinator-api")
    taken = svc["port"] + _candidate_offset(d)
    field, exchange = d.service("aitbc_container", "aitbc-trade-exchange")
    exchange["port"] = taken
    return ["host aitbc", f"{coordinator}.port", f"candidate port {taken}", f"{field}.port"]


def candidate_port_too_high(d):
    field, svc = d.service("aitbc_container", "aitbc-trade-exchange")
    svc["port"] = 65535 - _candidate_offset(d) + 1
    return ["host aitbc", f"{field}.port", "candidate port 65536", "above 65535"]


def nothing_to_roll_back_to(d):
    d.groups["all"]["rollout"]["keep_releases"] = 1
    return ["host at1", "rollout.keep_releases", "greater than or equal to 2"]


CASES = [duplicate_port, route_to_unknown_service, redirect_loop, redirect_to_nowhere,
         relative_path, bad_address, unit_name_with_space, unknown_group, duplicate_location,
         bad_user_name, undeclared_user, forward_to_nothing, cross_host_loopback,
         proxy_without_service, port_out_of_range, spa_output_outside_its_build,
         candidate_port_taken, candidate_port_too_high, nothing_to_roll_back_to]


def test_unchanged_copy_loads(data):
    # The round trip through Python values is faithful: every refusal below is the one fact.
    assert sorted(data.load().hosts) == ["aitbc", "at1", "ns3-aitbc", "ns3-root"]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.replace("_", "-") for c in CASES])
def test_bad_input_is_named(data, case):
    fragments = case(data)
    with pytest.raises(ModelError) as info:
        data.load()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_all_problems_reported_at_once(data):
    duplicate_port(data)
    bad_address(data)
    with pytest.raises(ModelError) as info:
        data.load()
    assert len(info.value.problems) >= 2


def test_render_writes_nothing_on_bad_input(data, tmp_path):
    route_to_unknown_service(data)
    inventory = data.write()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "render", "--inventory",
                           str(inventory), "--out", str(out)],
                          capture_output=True, text=True, cwd=data.root)
    assert proc.returncode == 2
    assert "aitbc-wallet" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
