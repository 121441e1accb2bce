"""Run where the document's operator runs it: on at1 itself, at1 as pyinfra's `@local`, the
containers and ns3 over SSH from there (`aitbc-infra sandbox from-host at1 -- ...`).

A deploy from at1 repairs drift on every host, its own included (the local connector's lock,
state read and history); a second changes nothing; `status` answers from there; and the fleet
it leaves is the one a deploy from this machine converges to (nothing owed from here after)."""

from __future__ import annotations

import json
import subprocess
import sys

from deploy_helpers import assert_clean, assert_noop

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run

OPERATOR_HOST = "at1"
THERE = ".sandbox/inventory.py"  # the inventory laid out on at1, with at1 as @local


def _from_at1(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aitbc_infra", "sandbox", "from-host",
                           OPERATOR_HOST, "--", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=900)


def _document(proc: subprocess.CompletedProcess, schema: str) -> dict:
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])  # after the lay-out's progress lines
    assert problems(doc, load(schema)) == []
    return doc


def _env_dir_modes(fleet) -> dict[str, str]:
    return {n: ssh_run(n, f"stat -c %a {h.env_dir}", check=True).stdout.strip()
            for n, h in fleet.hosts.items()}


def test_deploy_status_from_at1_as_local(deployed_inventory):
    fleet = load_fleet(deployed_inventory)
    declared = _env_dir_modes(fleet)
    for node, host in fleet.hosts.items():  # drift on every host, at1's own included
        ssh_run(node, f"chmod 0755 {host.env_dir}", check=True)

    first = _from_at1("deploy", "--json", "--inventory", THERE)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    doc = _document(first, "deploy")
    hosts = {h["node"]: (name, h) for name, h in doc["hosts"].items()}
    assert hosts[OPERATOR_HOST][0] == "@local"
    assert {node: h["changed"] > 0 for node, (_, h) in hosts.items()} == \
        dict.fromkeys(fleet.hosts, True)
    assert _env_dir_modes(fleet) == declared

    second = _from_at1("deploy", "--json", "--inventory", THERE)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    doc = _document(second, "deploy")
    assert doc["changes"] is False
    assert {h["node"]: h["changed"] for h in doc["hosts"].values()} == dict.fromkeys(fleet.hosts, 0)

    status = _from_at1("status", "--json", "--inventory", THERE)
    assert status.returncode == 0, status.stdout[-3000:] + status.stderr[-3000:]
    report = _document(status, "status")
    assert sorted(report["hosts"]) == sorted(fleet.hosts)
    # The last deploy of every host is the one run from at1, by at1's operator.
    assert {h["last_deploy"]["operator"] for h in report["hosts"].values()} == {"root@at1"}

    # The same fleet a deploy from this machine converges to.
    assert_noop(deployed_inventory)
    assert_clean(deployed_inventory)
