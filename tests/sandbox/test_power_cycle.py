"""A power cycle of the whole fleet: `aitbc-infra sandbox reboot --all` with requests running.

Every machine shuts down through its own systemd and boots again on the disk it had. Requests
fail while the machines are down; what must hold is recovery without any deploy: every route
through at1's proxy and every ns3 forward answers again within 60 s of the machines being
back, firehol loaded at boot the very rules the last deploy applied, every host is `running`,
and `aitbc-infra verify` passes. The times measured end the pytest output.
"""

from __future__ import annotations

import subprocess
import sys
import time

from deploy_helpers import request_loop
from system_state import not_running
from traffic import REPORTS, Traffic, answers

from aitbc_infra.host_names import FIREHOL_APPLIED_DIGEST
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import outside_view, ssh_run
from aitbc_infra.verify import verify_fleet
from deploys.shell import script

RECOVERY_BUDGET = 60.0  # seconds from the machines being back to every route answering


def _not_answering(traffic: Traffic) -> dict[str, str]:
    """One fresh request per route: {route: what it answered} for those not as declared."""
    got = answers(traffic.targets, traffic.context)
    return {name: status for name, status in got.items()
            if status != str(traffic.counts[name].expected)}


def test_power_cycle_recovers_without_a_deploy(deployed_inventory, tmp_path):
    nodes = list(load_fleet(deployed_inventory).hosts)
    with request_loop("sandbox reboot --all") as traffic:
        start = time.monotonic()
        cycle = subprocess.run([sys.executable, "-m", "aitbc_infra", "sandbox", "reboot", "--all"],
                               capture_output=True, text=True, timeout=600)
        back = time.monotonic()
        assert cycle.returncode == 0, cycle.stdout + cycle.stderr
        wrong = _not_answering(traffic)
        while wrong and time.monotonic() < back + RECOVERY_BUDGET:
            time.sleep(0.5)
            wrong = _not_answering(traffic)
        answering = time.monotonic()
        assert wrong == {}, f"not answering {RECOVERY_BUDGET:.0f} s after the reboot: {wrong}"
    # The loop saw the cycle: requests did fail while the machines were down. Its outage
    # columns undercount here: while a machine is gone one request waits out its timeout and
    # holds up the round, so the figures below are measured by fresh requests instead.
    assert traffic.failed_routes(), traffic.report()
    figures = (f"reboot --all: machines running after {back - start:.1f} s; every route answering "
               f"{answering - start:.1f} s after the reboot started "
               f"({answering - back:.1f} s after the machines were back)")
    print(figures)
    REPORTS.append(figures + "\n" + cycle.stdout.strip())

    assert not_running(nodes) == {}
    # firehol.service loaded at boot exactly what the last deploy applied: nothing drifted.
    firehol = ssh_run("ns3-root", script("firehol-state", FIREHOL_APPLIED_DIGEST), check=True)
    rules = dict(line.partition("=")[::2] for line in firehol.stdout.splitlines())
    assert rules["live"] == rules["applied"], \
        "ns3-root: the rules loaded at boot differ from the last applied ones"

    report = tmp_path / "verify.xml"
    assert verify_fleet(deployed_inventory, junit_xml=report, outside_view=outside_view) == 0, \
        f"verify failed after the power cycle: {report}"
