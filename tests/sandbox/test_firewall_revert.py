"""firehol rules that cut the control machine's SSH, deployed with requests running: the host
puts the previous rules back by itself within the declared window, the run fails naming it,
the site keeps serving.

ns3-root's data is changed to admit SSH from the peer site (at1) only, so the control machine
(10.231.0.1 on the sandbox's wan) can no longer open a connection to it, and its window
(`firewall.confirm_seconds`) is made short. The model takes such data: who may reach SSH is
the data's to say. The rules go live, the deploy's confirmation over a new connection fails, and
the revert timer armed on the host restores the live rules, firehol's files and the applied
digest of before. Nothing else of the fleet changes: through at1's proxy every route answers,
and ns3's forwards admit at1 under both rule sets. The real data then converges with nothing
owed (the host is as it was before the run), and a second run changes nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

from deploy_helpers import assert_clean, assert_noop, deploy, request_loop, variant_inventory

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import (
    DEPLOY_LOCK,
    FIREHOL_APPLIED_DIGEST,
    FIREHOL_CONF,
    FIREHOL_DEFAULTS,
    FIREHOL_REVERT_UNIT,
    FIREHOL_SWITCH_DIR,
)
from aitbc_infra.sandbox import ssh_run
from aitbc_infra.sandbox.ssh import ssh_argv
from deploys.shell import script

NODE = "ns3-root"
WINDOW = 15  # seconds: short, to keep the test's wall time small
# ns3-root's data (group_data/ns3_host.py): the window, and SSH from at1 only.
OPEN_SSH = 'firewall = {\n    "open": [\n        {"port": 22, "name": "ssh", "allow": ["any"]},'
CUT_SSH = (f'firewall = {{\n    "confirm_seconds": {WINDOW},\n    "open": [\n'
           '        {"port": 22, "name": "ssh", "allow": ["aitbc.bubuit.net"]},')
# What must be as before once the host put the rules back: firehol's files, the live rules and
# the digest recorded for them, whether a revert is armed, and the unit's state.
SNAPSHOT = (f"sha256sum {FIREHOL_CONF} {FIREHOL_DEFAULTS}; "
            f"{script('firehol-state', FIREHOL_APPLIED_DIGEST, FIREHOL_SWITCH_DIR)}; "
            "systemctl show -p ActiveState -p UnitFileState -p SubState firehol.service")


def _ssh_answers(node: str) -> bool:
    """Whether a new SSH connection from this machine gets through now (2 s to connect)."""
    argv = ssh_argv(node, "true")
    argv[1:1] = ["-o", "ConnectTimeout=2"]
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait(what, within: float) -> float:
    """Seconds until `what()` is true, polled; fails after `within`."""
    started = time.monotonic()
    while not what():
        assert time.monotonic() - started < within, f"not within {within} s: {what.__doc__}"
        time.sleep(0.5)
    return time.monotonic() - started


def _record(node: str) -> str:
    """When the host last put unconfirmed rules back (empty: never)."""
    return ssh_run(node, f"cat {FIREHOL_SWITCH_DIR}/reverted 2>/dev/null || true",
                   check=True).stdout.strip()


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _status_problems(inventory) -> dict[str, str]:
    read = subprocess.run([sys.executable, "-m", "aitbc_infra", "status", "--inventory",
                           str(inventory), "--host", NODE, "--json"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    return {p["what"]: p["why"] for p in json.loads(read.stdout)["problems"]}


def test_rules_cutting_ssh_are_put_back_by_the_host_and_the_run_fails_naming_it(
        deployed_inventory, tmp_path):
    variant = variant_inventory(tmp_path, "ns3_host", OPEN_SSH, CUT_SSH)
    before = ssh_run(NODE, SNAPSHOT, check=True).stdout
    assert "armed=" not in before
    earlier_revert = _record(NODE)

    def ssh_back() -> bool:
        """a new SSH connection to ns3-root gets through again"""
        return _ssh_answers(NODE)

    def put_back() -> bool:
        """the host recorded its revert"""
        return _record(NODE) != earlier_revert

    with request_loop("firehol rules that cut the control machine's SSH") as traffic:
        run = deploy(variant)
        failed_at = time.monotonic()
        # Back by itself within the window, which began at the activation, before the failure.
        _wait(ssh_back, within=WINDOW + 5)
        assert time.monotonic() - failed_at <= WINDOW + 3
        _wait(put_back, within=10)

    assert run.returncode == 1, run.output[-3000:]
    assert run.results["failed_hosts"] == [NODE], run.summary
    # A new connection was refused: the proof that the rules cut the control machine out.
    assert (f"{NODE}: the new firewall rules cut this machine's SSH: confirmation over a new "
            "connection failed") in run.output, run.output[-3000:]
    assert f"the host puts the previous rules back within {WINDOW} s" in run.output
    # Everything as it was: files, live rules, applied digest, no revert armed, the unit.
    assert ssh_run(NODE, SNAPSHOT, check=True).stdout == before
    # The host put them back by itself at its deadline, and said so in the timer's journal.
    # The record is written once the rules are back: the restore itself (four backends' tables,
    # firehol's files) takes a second or two on this machine, and both times are whole seconds.
    said = ssh_run(NODE, f"journalctl -u {FIREHOL_REVERT_UNIT} -o cat --no-pager",
                   check=True).stdout
    deadline = re.findall(r"did not confirm the new firewall rules by (\S+Z):", said)
    assert deadline, said
    assert 0 <= (_utc(_record(NODE)) - _utc(deadline[-1])).total_seconds() <= 5, said
    assert "the live rules of before, the previous firehol files" in said, said
    # The site kept serving: at1's proxy never depends on ns3-root. ns3's forwards admit at1
    # under both rule sets, and each load replaces the tables whole (iptables-restore): none is
    # expected to fail; a new connection landing in a swap would miss at most a moment.
    forwards = {name for name in traffic.counts if name.startswith("ns3:")}
    assert traffic.failed_routes() <= forwards, traffic.report()
    assert max(traffic.counts[f].outage_seconds for f in forwards) < 1, traffic.report()
    assert traffic.failing_at_the_end() == set(), traffic.report()
    # `status` names the revert until a deploy runs after it.
    assert "put the previous rules back" in _status_problems(deployed_inventory)["firewall"]

    # The cut run's sessions end once their connections are back: no lock is left held.
    for node in (NODE, "ns3-aitbc"):
        def lock_free(node=node) -> bool:
            """the deploy lock let go"""
            return ssh_run(node, f"flock -n {DEPLOY_LOCK} true", timeout=15).returncode == 0
        _wait(lock_free, within=60)
    run = deploy(deployed_inventory)  # the real data: the host is as before, nothing owed
    assert run.returncode == 0, run.output[-3000:]
    assert "firewall" not in _status_problems(deployed_inventory)
    assert_clean(deployed_inventory)
    assert_noop(deployed_inventory)
