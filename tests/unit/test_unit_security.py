"""Every app unit is hardened: its own user, writes only its data, exposure <= 4.5 (offline)."""

import dataclasses
import re

import pydantic
import pytest

from aitbc_infra.checks import check_exposure
from aitbc_infra.model import Service
from aitbc_infra.render import render_fleet
from aitbc_infra.security import MAX_EXPOSURE, exposure_markdown, exposure_table, unit_exposure


def _units(fleet, node):
    return {f.unit: f for f in render_fleet(fleet)[node] if f.kind == "unit"}


def _values(text, key):
    return [m.group(1) for m in re.finditer(rf"^{key}=(.*)$", text, re.M)]


def test_every_unit_scores_at_most_the_bar(fleet):
    rows = exposure_table(fleet)
    assert len(rows) == sum(len(h.services) for h in fleet.hosts.values())
    assert MAX_EXPOSURE == 4.5
    too_exposed = [row for row in rows if row[2] > MAX_EXPOSURE]
    assert not too_exposed
    assert all(rating in ("PERFECT", "SAFE", "OK") for *_, rating in rows)


def test_the_exposure_check_passes_for_every_host(fleet):
    rendered = render_fleet(fleet)
    for node, host in fleet.hosts.items():
        results = check_exposure(host, rendered[node])
        assert {r.check for r in results} == {f"exposure {svc.unit}" for _, svc in host.services}
        assert all(r.ok for r in results), [r for r in results if not r.ok]


def test_a_weakened_unit_fails_the_check(fleet):
    unit = _units(fleet, "aitbc")["coordinator-api"]
    # Everything from the hardening block on goes; [Install] stays.
    weak_text = (unit.content.split("# Hardening")[0]
                 + "[Install]\nWantedBy=multi-user.target\n")
    assert "ProtectSystem" not in weak_text and "User=aitbc-coordinator" in weak_text
    score, rating = unit_exposure(weak_text, "coordinator-api.service")
    assert score > MAX_EXPOSURE and rating not in ("OK", "SAFE", "PERFECT")
    [result] = check_exposure(fleet.hosts["aitbc"], [dataclasses.replace(unit, content=weak_text)])
    assert result.check == "exposure coordinator-api"
    assert not result.ok and result.detail == f"{score} {rating}"


def test_scores_come_from_systemd_analyze_not_from_a_table(fleet):
    text = _units(fleet, "aitbc")["coordinator-api"].content
    base, _ = unit_exposure(text, "coordinator-api.service")
    looser, _ = unit_exposure(text.replace("PrivateDevices=yes\n", "PrivateDevices=no\n"),
                              "coordinator-api.service")
    assert looser > base


@pytest.mark.parametrize("node", ["at1", "aitbc", "ns3-aitbc"])
def test_units_run_as_their_app_user_and_write_only_data(fleet, node):
    host = fleet.hosts[node]
    units = _units(fleet, node)
    for app, svc in host.services:
        text = units[svc.unit].content
        assert _values(text, "User") == [app.user] and app.user != "root"
        assert _values(text, "Group") == [app.user]
        assert _values(text, "DynamicUser") == []
        assert [p for line in _values(text, "ReadWritePaths") for p in line.split()] == \
            [f"{app.root}/{d}" for d in app.data_dirs]
        for directive in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                          "CapabilityBoundingSet=\n", "DevicePolicy=closed"):
            assert f"\n{directive}" in text, (svc.unit, directive)


def test_home_apps_see_homes_read_only_others_none(fleet):
    for node, host in fleet.hosts.items():
        units = _units(fleet, node)
        for app, svc in host.services:
            expected = "read-only" if app.root.startswith("/home/") else "yes"
            assert _values(units[svc.unit].content, "ProtectHome") == [expected]


def test_the_miner_allows_exactly_its_devices(fleet):
    host = fleet.hosts["at1"]
    units = _units(fleet, "at1")
    miner = next(svc for _, svc in host.services if svc.unit == "aitbc-gpu-miner")
    assert miner.devices == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    text = units["aitbc-gpu-miner"].content
    assert _values(text, "DeviceAllow") == [f"{d} rw" for d in miner.devices]
    assert _values(text, "PrivateDevices") == ["no"]
    assert _values(text, "DevicePolicy") == ["closed"]
    # Every other unit keeps a private /dev and no device list.
    for node, host in fleet.hosts.items():
        for _, svc in host.services:
            if svc is not miner:
                other = _units(fleet, node)[svc.unit].content
                assert _values(other, "PrivateDevices") == ["yes"]
                assert _values(other, "DeviceAllow") == []


@pytest.mark.parametrize("device", ["/dev/nvidia*", "nvidia0", "/dev/../etc/shadow", "char-", "/dev/"])
def test_device_entries_systemd_cannot_use_are_refused(device):
    # DeviceAllow= takes a node path (no wildcards) or a /proc/devices group ("char-nvidia*").
    with pytest.raises(pydantic.ValidationError, match="device"):
        Service(unit="x", command="-m x", devices=[device])
    assert Service(unit="x", command="-m x", devices=["char-nvidia*"]).devices == ["char-nvidia*"]


def test_the_markdown_table_lists_every_unit(fleet):
    table = exposure_markdown(fleet)
    lines = table.splitlines()
    assert lines[0].startswith("| node | unit |")
    assert len(lines) == 2 + sum(len(h.services) for h in fleet.hosts.values())
    assert "| at1 | `aitbc-gpu-miner` |" in table
