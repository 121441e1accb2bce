"""`aitbc-infra status` against the sandbox: a converged fleet is healthy (exit 0, a --json
document that holds to schemas/status.json, every host read); a stopped unit and a hand-edited
firewall are each named (host, what, why) with exit 1, then undone and the fleet is healthy
again."""

from __future__ import annotations

import json
import subprocess
import sys

from deploy_helpers import deploy

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import FIREHOL_CONF
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run

CLI = [sys.executable, "-m", "aitbc_infra"]
# The socket too: alone, the service would be started again by the next connection.
WALLET = "aitbc-wallet-daemon"
STOP = ("aitbc", f"systemctl stop {WALLET}.socket {WALLET}")
START = ("aitbc", f"systemctl start {WALLET}.socket {WALLET}")
# The firewall edited by hand, as test_verify.py's faults do it: a live rule firehol did not
# apply, and a line in firehol.conf the render does not have.
EDIT_MARK = "# edited by hand (test_status)"
RULE = "FORWARD -p tcp --dport 8082 -j DROP"
EDIT = ("ns3-root", f"iptables-legacy -I {RULE} && echo '{EDIT_MARK}' >> {FIREHOL_CONF}")
UNDO = ("ns3-root", f"iptables-legacy -D {RULE}; sed -i '/^{EDIT_MARK}$/d' {FIREHOL_CONF}")


def _status(inventory, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "status", "--inventory", str(inventory), *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def _document(inventory, code: int) -> dict:
    read = _status(inventory, "--json")
    assert read.returncode == code, read.stdout[-3000:] + read.stderr[-3000:]
    doc = json.loads(read.stdout)
    assert problems(doc, load("status")) == []
    assert doc["exit_code"] == code
    return doc


def _named(doc: dict) -> dict[tuple[str, str], str]:
    return {(p["host"], p["what"]): p["why"] for p in doc["problems"]}


def _assert_healthy(inventory) -> None:
    doc = _document(inventory, 0)
    assert doc["problems"] == []
    assert set(doc["hosts"]) == set(load_fleet(inventory).hosts)
    assert all(host["error"] is None and host["last_deploy"]["result"] == "ok"
               for host in doc["hosts"].values())


def test_status_healthy_then_names_a_stopped_unit_and_a_hand_edited_firewall(deployed_inventory):
    assert deploy(deployed_inventory).returncode == 0  # converged, whatever ran before
    _assert_healthy(deployed_inventory)
    table = _status(deployed_inventory)
    assert table.returncode == 0, table.stdout[-3000:] + table.stderr[-3000:]
    assert "healthy" in table.stdout.splitlines()[-1]

    try:
        ssh_run(*STOP, check=True)
        doc = _document(deployed_inventory, 1)
        named = _named(doc)
        assert set(named) == {("aitbc", f"unit {WALLET}"), ("aitbc", f"unit {WALLET}.socket")}, named
        assert all(why.startswith("inactive") for why in named.values()), named
        table = _status(deployed_inventory)
        assert table.returncode == 1
        assert f"aitbc-infra status: aitbc: unit {WALLET}: inactive" in table.stderr
    finally:
        ssh_run(*START, check=True)
    _assert_healthy(deployed_inventory)

    try:
        ssh_run(*EDIT, check=True)
        doc = _document(deployed_inventory, 1)
        assert {(p["host"], p["what"]) for p in doc["problems"]} == {("ns3-root", "firewall")}, \
            doc["problems"]
        whys = sorted(p["why"] for p in doc["problems"])
        assert whys == [f"{FIREHOL_CONF} differs from the rendered rules (edited by hand, or a "
                        "deploy is owed)",
                        "the live rules differ from those the deploy applied (changed by hand)"]
    finally:
        ssh_run(*UNDO)
        # A rule taken out by hand may leave the other iptables backend's tables behind (empty,
        # yet not as applied): the deploy re-applies the rules where the live ones drifted.
        run = deploy(deployed_inventory)
    assert run.returncode == 0, run.output[-3000:]
    _assert_healthy(deployed_inventory)
