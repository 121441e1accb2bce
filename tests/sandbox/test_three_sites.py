"""A third site by data alone: examples/three-sites/ (inventory and group_data entries only)
deployed into the running sandbox beside the production two, answering and verified; then the
sandbox is changed back. Runs last (conftest.py): it reshapes the fleet."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from deploy_helpers import verify_failures

from aitbc_infra import PROJECT_ROOT, sandbox
from aitbc_infra.sandbox import fleet, outside_view, ssh_run
from aitbc_infra.verify import verify_fleet

EXAMPLE = PROJECT_ROOT / "examples" / "three-sites" / "inventory.py"
CLI = Path(sys.executable).with_name("aitbc-infra")
THIRD = ("ns4-root", "ns4-aitbc")


@pytest.fixture(scope="module")
def three_sites(deployed_inventory):
    before = fleet.pids()
    run = subprocess.run([str(CLI), "sandbox", "deploy", "--inventory", str(EXAMPLE)],
                         capture_output=True, text=True, timeout=1200, cwd=PROJECT_ROOT)
    yield {"before": before, "run": run, "after": fleet.pids()}
    sandbox.ensure_up(progress=lambda _: None)  # the production sandbox again


def test_deploy_adds_the_third_site_and_leaves_the_others_running(three_sites):
    run = three_sites["run"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    before, after = three_sites["before"], three_sites["after"]
    for name, pid in before.items():
        assert after[name] == pid, f"{name} was restarted"  # same machines, kept as they were
    assert all(after[name] for name in THIRD), after
    # Where to look names the third site too, at the next wan address.
    assert "--resolve aitbc.ns4.example:80:10.231.0.4 http://aitbc.ns4.example/health" in run.stdout


def test_third_site_answers_through_its_proxy_and_its_forward(three_sites):
    # From another site, as a peer would: by name (nginx on ns4-root) and by the forwarded port.
    out = ssh_run("at1", "curl -sf -m 5 http://aitbc.ns4.example/rpc/head; echo; "
                  "curl -sf -m 5 http://10.231.0.4:8082/rpc/head", timeout=30)
    heads = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(heads) == 2 and all("height" in head for head in heads), out.stdout + out.stderr
    container = ssh_run("ns4-aitbc", "ip -4 -o addr show host0; ip route show default", timeout=30)
    assert "inet 10.231.104.10/24" in container.stdout
    assert "via 10.231.104.1" in container.stdout


def test_verify_covers_all_three_sites(three_sites, tmp_path):
    report = tmp_path / "verify.xml"
    inventory = sandbox.paths().inventory
    assert "ns4_container" in inventory.read_text()
    assert verify_fleet(inventory, junit_xml=report, outside_view=outside_view) == 0, verify_failures(report)
    checked = {case.get("name").split("[", 1)[1].split(":", 1)[0]
               for case in ET.parse(report).getroot().iter("testcase") if "[" in case.get("name")}
    assert {"at1", "aitbc", "ns3-root", "ns3-aitbc", *THIRD} <= checked


def test_back_to_two_sites_stops_only_the_third(three_sites):
    sandbox.ensure_up(progress=lambda _: None)
    pids = fleet.pids()
    assert set(pids) == set(three_sites["before"])
    for name, pid in three_sites["before"].items():
        assert pids[name] == pid, f"{name} was restarted"
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "aitbc-br104" not in links and "aitbc-v104" not in links
