"""bench/scale.py's extra sites are copies of the three-sites example's third, renamed: the
inventory it writes validates, and the sandbox lays every site out on its own bridge."""

from __future__ import annotations

import importlib.util
import sys

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox.plan import plan_for


def _scale():
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))  # it imports bench/deploy.py beside it
    try:
        spec = importlib.util.spec_from_file_location("scale", PROJECT_ROOT / "bench" / "scale.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PROJECT_ROOT / "bench"))


def test_six_extra_sites_make_sixteen_hosts_each_site_on_its_bridge(tmp_path):
    fleet = load_fleet(_scale().write_inventory(tmp_path / "scale", 6))
    assert len(fleet.hosts) == 16
    plan = plan_for(fleet)
    for k in range(5, 11):
        container = plan.machine(f"ns{k}-aitbc")
        assert container.proxy_jump == f"ns{k}-root"
        assert container.links[0].address == f"10.231.{100 + k}.10"
        assert [svc.unit for _, svc in fleet.hosts[f"ns{k}-aitbc"].services] == \
            [f"aitbc-blockchain-node-{k}", f"aitbc-blockchain-rpc-{k}"]
        assert fleet.hosts[f"ns{k}-root"].firewall.forwards[0].node == f"ns{k}-aitbc"
    assert len({b.subnet for b in plan.bridges}) == 1 + 8  # the wan and one bridge per site
