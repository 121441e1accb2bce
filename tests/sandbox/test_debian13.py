"""Debian 13 hosts: the release is data per host, and the sandbox boots each machine on its
host's release (one image per release). The ns3 site moved to Debian 13 by data alone (its two
hosts given `debian: 13` in the inventory) is re-laid on trixie machines, deployed from scratch
(the apps built for the host's Python 3.13) and verified, while at1's site keeps running; then
the production sandbox comes back. Runs near the end (conftest.py): it reshapes the fleet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import deploy, verify_failures

from aitbc_infra import PROJECT_ROOT, sandbox
from aitbc_infra.sandbox import fleet, outside_view, ssh_run
from aitbc_infra.verify import verify_fleet

CLI = Path(sys.executable).with_name("aitbc-infra")
NS3 = ("ns3-root", "ns3-aitbc")


def _debian13_inventory(tmp: Path) -> Path:
    """The production inventory with the ns3 site's hosts on Debian 13 (host data, which the
    role groups' data does not override)."""
    text = (PROJECT_ROOT / "inventory.py").read_text()
    for node in NS3:
        old = f'("{node}", {{'
        assert text.count(old) == 1, old
        text = text.replace(old, f'("{node}", {{"debian": 13, ')
    inventory = tmp / "inventory.py"
    inventory.write_text(text)
    return inventory


@pytest.fixture(scope="module")
def debian13(deployed_inventory, tmp_path_factory):
    before = fleet.pids()
    inventory = _debian13_inventory(tmp_path_factory.mktemp("debian13"))
    run = subprocess.run([str(CLI), "sandbox", "deploy", "--inventory", str(inventory)],
                         capture_output=True, text=True, timeout=1800, cwd=PROJECT_ROOT)
    yield {"before": before, "run": run, "after": fleet.pids()}
    # The production sandbox again: ns3's machines back on Debian 12, deployed from scratch.
    sandbox.ensure_up(progress=lambda _: None)
    back = deploy(deployed_inventory)
    assert back.returncode == 0, back.output[-4000:]


def test_ns3_site_runs_debian_13_deployed_and_healthy(debian13):
    run = debian13["run"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    before, after = debian13["before"], debian13["after"]
    # at1's site kept its machines; ns3's were booted anew on the trixie image.
    assert {n: after[n] == pid for n, pid in before.items()} == \
        {n: n not in NS3 for n in before}
    for node in NS3:
        release = ssh_run(node, ". /etc/os-release; echo $VERSION_ID $VERSION_CODENAME",
                          check=True).stdout.split()
        assert release == ["13", "trixie"], (node, release)
    # The apps on ns3-aitbc run on Debian 13's Python, in venvs built for it.
    venvs = ssh_run("ns3-aitbc", "for v in /opt/*/.venv; do $v/bin/python -c "
                    "'import sys; print(sys.version_info[:2])'; done", check=True).stdout
    assert set(venvs.split("\n")) - {""} == {"(3, 13)"}, venvs


def test_verify_passes_on_the_debian_13_site(debian13, tmp_path):
    assert debian13["run"].returncode == 0
    report = tmp_path / "verify.xml"
    code = verify_fleet(sandbox.paths().inventory, junit_xml=report, outside_view=outside_view)
    assert code == 0, verify_failures(report)


def test_a_second_deploy_changes_nothing_on_debian_13(debian13):
    assert debian13["run"].returncode == 0
    again = deploy(sandbox.paths().inventory)
    assert again.returncode == 0, again.output[-4000:]
    assert again.changed == 0, again.changed_operations()
