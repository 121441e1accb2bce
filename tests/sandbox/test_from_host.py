"""Run where the document's operator runs it: on at1 itself, at1 as pyinfra's `@local`, the
containers and ns3 over SSH from there (`aitbc-infra sandbox from-host at1 -- ...`).

A deploy from at1 repairs drift on every host, its own included (the local connector's lock,
state read and history) and brings coordinator-api back from another release; a second
changes nothing; `status` answers from there; `rollback` from there puts coordinator-api back
on the other release, and a deploy from there puts the data's back; and the fleet it leaves is
the one a deploy from this machine converges to (nothing owed from here after)."""

from __future__ import annotations

import json
import subprocess
import sys

from deploy_helpers import assert_clean, assert_noop, changed_tree, deploy

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run

OPERATOR_HOST = "at1"
APP = "coordinator-api"
OTHER_RELEASE = ("payload/apps/coordinator-api/src/app/main.py", 'SERVICE = "coordinator-api"\n',
                 'SERVICE = "coordinator-api"\n# another release, deployed from the control side\n')
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


def _live(fleet) -> dict[str, str]:
    """{node: the live release of coordinator-api} on every host running it."""
    return {n: ssh_run(n, f"readlink {a.venv}", check=True).stdout.strip()
            for n, h in fleet.hosts.items() for a in h.apps if a.name == APP}


def test_deploy_status_rollback_from_at1_as_local(deployed_inventory, tmp_path):
    fleet = load_fleet(deployed_inventory)
    data_release = _live(fleet)
    # Another coordinator-api release live, from this machine: the data's release stays kept.
    other = deploy(deployed_inventory, changed_tree(tmp_path, *OTHER_RELEASE))
    assert other.returncode == 0, other.output[-3000:]
    other_release = _live(fleet)
    assert all(other_release[n] != data_release[n] for n in data_release)
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
    assert _live(fleet) == data_release

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

    # Back on the other release, from at1, building nothing; status from there names it.
    back = _from_at1("rollback", APP, "--inventory", THERE, "--message", "from at1")
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert _live(fleet) == other_release
    rolled = _from_at1("status", "--json", "--inventory", THERE)
    assert rolled.returncode == 1, rolled.stdout[-3000:]
    for node, release in other_release.items():
        app = next(a for a in _document(rolled, "status")["hosts"][node]["apps"] if a["name"] == APP)
        assert (f"releases/{app['rollback']['release']}", app["rollback"]["message"]) == \
            (release, "from at1")
    again = _from_at1("deploy", "--inventory", THERE)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _live(fleet) == data_release

    # The same fleet a deploy from this machine converges to.
    assert_noop(deployed_inventory)
    assert_clean(deployed_inventory)
