"""The sandbox takes its groups and its image's packages from the production data, not copies."""

from __future__ import annotations

import json
import os
import re
from ipaddress import IPv4Address

import pytest

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import Fleet
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import image, inventory, machines
from aitbc_infra.sandbox.paths import Paths
from aitbc_infra.sandbox.plan import Plan, PlanError, inventory_addresses, plan_for


def test_sandbox_inventory_puts_each_node_in_its_production_group(fleet, tmp_path):
    plan = plan_for(fleet)
    path = tmp_path / "inventory.py"
    path.write_text(inventory.render(Paths(state=tmp_path), fleet, plan))
    sandbox = load_fleet(path, root=PROJECT_ROOT)  # the model accepts every fact it writes
    assert list(sandbox.hosts) == list(fleet.hosts)
    assert sorted(fleet.hosts) == sorted(plan.names)
    for node, spec in sandbox.hosts.items():
        assert spec.role == fleet.hosts[node].role is not None, node
        assert spec.deploy_environment == "sandbox"
    for m in plan.machines:
        assert str(sandbox.hosts[m.name].bridge_address) == inventory_addresses(m)["bridge_address"]


def test_production_addresses_map_by_the_rule(fleet):
    """One machine per node; a bridge keeps its third octet, every address its last."""
    plan = plan_for(fleet)
    at1, ns3, aitbc, ns3_aitbc = (plan.machine(n) for n in ("at1", "ns3-root", "aitbc", "ns3-aitbc"))
    assert [link.address for link in at1.links] == ["10.231.0.2", "10.231.223.1"]
    assert [link.address for link in ns3.links] == ["10.231.0.3", "10.231.100.1"]
    assert (aitbc.links[0].address, aitbc.gateway, aitbc.proxy_jump) == \
        ("10.231.223.93", "10.231.223.1", "at1")
    assert (ns3_aitbc.links[0].address, ns3_aitbc.links[0].bridge, ns3_aitbc.proxy_jump) == \
        ("10.231.100.10", ns3.links[1].bridge, "ns3-root")
    assert ns3.links[1].ifname == str(fleet.hosts["ns3-root"].bridge_interface)
    assert dict((name, addr) for addr, name in plan.hosts_entries) == {
        "aitbc.bubuit.net": "10.231.0.2", "aitbc.keisanki.net": "10.231.0.3",
        "acme.sandbox": "10.231.0.1"}
    assert [b.subnet for b in plan.bridges] == ["10.231.0.0/24", "10.231.223.0/24",
                                                "10.231.100.0/24"]
    assert Plan.from_json(plan.to_json()) == plan


def _moved(fleet: Fleet, node: str, **changes) -> Fleet:
    return Fleet({n: (s.model_copy(update=changes) if n == node else s)
                  for n, s in fleet.hosts.items()})


@pytest.mark.parametrize("node, changes, message", [
    ("ns3-root", {"bridge_address": IPv4Address("192.168.223.1")},
     "hosts at1 and ns3-root: both bridges map to 10.231.223.0/24"),
    ("ns3-aitbc", {"bridge_address": IPv4Address("172.16.5.10")},
     "host ns3-aitbc: bridge_address 172.16.5.10 lies on no host's bridge"),
    ("at1", {"bridge_prefix": 16}, "host at1: bridge_address 10.1.223.1/16: the sandbox lays "
     "out bridges of /24 or narrower"),
    ("at1", {"bridge_address": IPv4Address("10.1.0.1")}, "the sandbox's internet"),
])
def test_a_node_the_rule_cannot_place_is_named(fleet, node, changes, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        plan_for(_moved(fleet, node, **changes))


def test_each_machine_boots_its_hosts_debian_release(fleet):
    plan = plan_for(_moved(_moved(fleet, "ns3-root", debian=13), "ns3-aitbc", debian=13))
    assert {m.name: m.debian for m in plan.machines} == \
        {"at1": 12, "aitbc": 12, "ns3-root": 13, "ns3-aitbc": 13}
    assert Plan.from_json(plan.to_json()) == plan
    # A plan recorded before machines had a release: they all booted Debian 12.
    old = json.loads(plan_for(fleet).to_json())
    for m in old["machines"]:
        del m["debian"]
    assert Plan.from_json(json.dumps(old)) == plan_for(fleet)


def test_image_holds_every_package_any_host_installs_and_no_other(fleet):
    installed = {name for spec in fleet.hosts.values()
                 for name in (*spec.base_packages, *spec.packages)}  # as deploys/base.py installs
    assert image.releases(fleet) == (12,)
    packages = image.deploy_packages(fleet, 12)
    assert set(packages) == installed
    assert image.deploy_packages(fleet, 13) == ()
    assert {"nginx", "firehol", "certbot", "ca-certificates"} <= installed  # from group_data/
    # Another package in group_data/ is another image, and so is another Debian release.
    assert image.cache_key(12, (*packages, "htop")) != image.cache_key(12, packages)
    assert image.cache_key(12, tuple(reversed(packages))) == image.cache_key(12, packages)
    assert image.cache_key(13, packages) != image.cache_key(12, packages)
    assert "trixie-security" in image.sources(13) and "bookworm" not in image.sources(13)


def test_three_sites_example_boots_from_the_production_image(fleet):
    """Its third site installs nothing the production hosts do not: the running sandbox's
    machines and image stay when it is brought up for the example."""
    example = load_fleet(PROJECT_ROOT / "examples" / "three-sites" / "inventory.py")
    assert image.image_dirs(example) == image.image_dirs(fleet)


def test_a_running_machines_files_keep_their_times_unless_they_change(tmp_path):
    # `sandbox up` configures running machines again: an sshd drop-in rewritten as it was would
    # read as newer than the configuration sshd last loaded (verify's running-config check).
    conf = tmp_path / "etc/ssh/sshd_config.d/20-aitbc-hostkey.conf"
    machines._write(conf, "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    os.utime(conf, (1_000_000_000, 1_000_000_000))
    machines._write(conf, "HostKey /etc/ssh/ssh_host_ed25519_key\n")
    assert conf.stat().st_mtime == 1_000_000_000
    machines._write(conf, "HostKey /etc/ssh/other\n", 0o600)
    assert conf.stat().st_mtime > 1_000_000_000 and conf.stat().st_mode & 0o777 == 0o600
    assert conf.read_text() == "HostKey /etc/ssh/other\n"
