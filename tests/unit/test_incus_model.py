"""The incus side of the model: containers and networks validated with the rest (problems
name host and field), the plans provision compares against incus (pure data), and
`aitbc-infra provision` refusing bad input before it connects anywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aitbc_infra import host_names, incus
from aitbc_infra.fleet import ModelError


def _problems(data) -> str:
    with pytest.raises(ModelError) as info:
        data.load()
    return str(info.value)


def test_address_outside_the_hosts_network(data):
    data.host("aitbc")["bridge_address"] = "10.1.224.93"
    message = _problems(data)
    assert "host aitbc: bridge_address: 10.1.224.93 is not a free address of at1's network " \
           "10.1.223.1/24" in message


def test_address_is_the_broadcast(data):
    data.host("ns3-aitbc")["bridge_address"] = "192.168.100.255"
    assert "host ns3-aitbc: bridge_address: 192.168.100.255 is not a free address" in _problems(data)


def test_container_on_a_host_without_incus(data):
    data.groups["aitbc_container"]["container"]["host"] = "ns3-aitbc"
    assert "host aitbc: container.host: 'ns3-aitbc' is not a host of the inventory with " \
           "'incus' data" in _problems(data)


def test_bad_values_are_named(data):
    data.groups["aitbc_container"]["container"]["limits"]["memory"] = "4 gigs"
    data.groups["incus_host"]["incus"]["network"]["name"] = "incus br0"
    data.groups["ns3_container"]["container"]["image"] = "images:debian/12; rm -rf /"
    message = _problems(data)
    assert "container.limits.memory" in message and "'4 gigs'" in message
    assert "host at1" in message and "incus.network.name" in message
    assert "host ns3-aitbc" in message and "container.image" in message


def test_two_containers_one_address(data):
    data.host("ns3-aitbc")["bridge_address"] = "10.1.223.93"
    message = _problems(data)
    assert "10.1.223.93 is also another host's bridge_address" in message


def test_production_plans(fleet, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/id_ed25519.pub").write_text("ssh-ed25519 AAAA test\n")
    net = incus.network_plan(fleet.hosts["at1"])
    assert net.managed and net.config == {"ipv4.address": "10.1.223.1/24", "ipv4.nat": "true",
                                          "ipv6.address": "none"}
    plan = incus.container_plan(fleet, fleet.hosts["aitbc"])
    # The MAC follows from the address: a recreated container keeps it (incus.stable_mac).
    assert plan.nic == {"type": "nic", "network": "incusbr0", "name": "eth0",
                        "ipv4.address": "10.1.223.93", "hwaddr": "02:a1:0a:01:df:5d"}
    ns3 = incus.container_plan(fleet, fleet.hosts["ns3-aitbc"])
    assert ns3.nic["hwaddr"] == "02:a1:c0:a8:64:0a" != plan.nic["hwaddr"]
    assert plan.config == {incus.MANAGED_KEY: "managed", "boot.autostart": "true",
                           "limits.cpu": "2", "limits.memory": "4GiB"}
    network_file = next(f for f in plan.files if f.path == host_names.CONTAINER_NETWORK).data.decode()
    assert "Address=10.1.223.93/24\nGateway=10.1.223.1\n" in network_file
    assert "DNS=10.1.223.1" in network_file


def test_differences(fleet, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/id_ed25519.pub").write_text("ssh-ed25519 AAAA test\n")
    plan = incus.container_plan(fleet, fleet.hosts["ns3-aitbc"])
    same = incus.Present("Running", {**plan.config, "volatile.x": "y"}, {"eth0": dict(plan.nic)},
                         {f.path: f.sha256 for f in plan.files}, True)
    differences = (incus.config_changes, incus.stale_limits, incus.nic_differs, incus.changed_files)
    assert not any(difference(plan, same) for difference in differences)
    drifted = incus.Present("Running", {**plan.config, "limits.cpu": "4", "limits.memory": "1GiB"},
                      {}, {}, True)
    assert incus.config_changes(plan, drifted) == {"limits.cpu": "1", "limits.memory": "2GiB"}
    assert incus.nic_differs(plan, drifted) and len(incus.changed_files(plan, drifted)) == len(plan.files)
    assert incus.network_changes(incus.network_plan(fleet.hosts["ns3-root"]),
                           {"config": {"ipv4.address": "192.168.100.1/24", "ipv4.nat": "false",
                                       "ipv6.address": "none"}}) == {"ipv4.nat": "true"}
    stray = incus.Present("Stopped", {incus.MANAGED_KEY: "managed"}, {}, {}, False)
    other = incus.Present("Running", {}, {}, {}, False)
    assert incus.unlisted({"old": stray, "theirs": other, "aitbc": same}, {"aitbc"}) == ["old"]


def test_provision_refuses_a_missing_key_before_connecting(data, tmp_path):
    data.groups["aitbc_container"]["container"]["ssh"]["authorized_key"] = str(tmp_path / "nope.pub")
    inventory = data.write()
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "provision", "--inventory",
                           str(inventory), "--dry"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "host aitbc: container.ssh.authorized_key" in proc.stderr
    assert "Connecting" not in proc.stdout + proc.stderr
