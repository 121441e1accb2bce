"""`aitbc-infra verify` on the sandbox: green after a deploy; three injected faults fail exactly
their checks, naming host and service; a redeploy makes it green again."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from deploy_helpers import deploy

from aitbc_infra.sandbox import ssh_run
from aitbc_infra.verify import run_verify

# The faults and the checks each must fail (ids are `host: check`).
EXPECTED_FAILURES = {
    "aitbc: unit aitbc-wallet-daemon active and enabled",
    "aitbc: unit aitbc-wallet-daemon.socket active and enabled",
    "aitbc: aitbc-wallet-daemon listens on 127.0.0.1:8002",
    "aitbc: route /wallet/ -> aitbc-wallet-daemon",
    "aitbc: coordinator-api env file root 0600",
    "ns3-root: forward 8082 answers on 10.231.0.3",
}


def _failures(report) -> dict[str, str]:
    failed = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            name = case.get("name")
            failed[name[name.index("[") + 1:-1]] = problem.get("message", "")
    return failed


def test_verify_passes_on_a_deployed_sandbox(deployed_inventory, tmp_path):
    report = tmp_path / "verify.xml"
    assert run_verify(deployed_inventory, report) == 0, _failures(report)
    assert len(list(ET.parse(report).getroot().iter("testcase"))) > 100


def test_faults_fail_exactly_their_checks_then_redeploy_heals(deployed_inventory, tmp_path):
    # The socket too: alone, the service would be started again by the next connection.
    ssh_run("aitbc", "systemctl stop aitbc-wallet-daemon.socket aitbc-wallet-daemon", check=True)
    ssh_run("aitbc", "chmod 0644 /etc/aitbc/coordinator-api.env", check=True)
    ssh_run("ns3-root", "iptables-legacy -I FORWARD 1 -p tcp --dport 8082 -j DROP", check=True)
    try:
        report = tmp_path / "faulty.xml"
        assert run_verify(deployed_inventory, report) == 1
        failures = _failures(report)
        assert set(failures) == EXPECTED_FAILURES
        assert "aitbc" in failures["aitbc: unit aitbc-wallet-daemon active and enabled"]
        assert "aitbc-wallet-daemon" in failures["aitbc: unit aitbc-wallet-daemon active and enabled"]
    finally:
        run = deploy(deployed_inventory)
    assert run.returncode == 0, run.output[-3000:]
    healed = tmp_path / "healed.xml"
    assert run_verify(deployed_inventory, healed) == 0, _failures(healed)
