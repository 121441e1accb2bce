"""`aitbc-infra verify` on the sandbox: green after a deploy; injected faults, one of each kind
of state the checks read, fail exactly their checks, naming host and service; a redeploy makes
it green again."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from deploy_helpers import faults_injected, verify_failures

from aitbc_infra.sandbox import outside_view
from aitbc_infra.verify import verify_fleet

# Each fault: its host, the command that injects it, and the checks it must fail (`host: check`).
FAULTS = [
    # The socket too: alone, the service would be started again by the next connection.
    ("aitbc", "systemctl stop aitbc-wallet-daemon.socket aitbc-wallet-daemon", {
        "aitbc: unit aitbc-wallet-daemon active and enabled",
        "aitbc: unit aitbc-wallet-daemon.socket active and enabled",
        "aitbc: aitbc-wallet-daemon listens on 127.0.0.1:8002",
        "at1: https://aitbc.bubuit.net/wallet/ answers 404"}),
    ("aitbc", "chmod 0644 /etc/aitbc/coordinator-api.env", {
        "aitbc: coordinator-api env file root 0600",
        "aitbc: app coordinator-api's units and env files as planned"}),
    # Seen from at1, the one source the forward admits.
    ("ns3-root", "iptables-legacy -I FORWARD 1 -p tcp --dport 8082 -j DROP",
     {"at1: forward ns3-root:8082 answers aitbc.bubuit.net"}),
    # Not reloaded: nginx serves on with the config it has, only `nginx -t` sees the change.
    ("aitbc", "echo 'broken;' >> /etc/nginx/sites-available/aitbc.bubuit.net", {
        "aitbc: nginx -t", "aitbc: nginx files as planned", "aitbc: nginx runs the config on disk"}),
    ("aitbc", "mkdir /opt/exchange/releases/fault-1 /opt/exchange/releases/fault-2 "
     "/opt/exchange/releases/fault-3", {"aitbc: exchange runs a complete release, at most 3 kept"}),
    ("at1", "systemctl stop aitbc-blockchain-node", {
        "at1: unit aitbc-blockchain-node active and enabled",
        "at1: aitbc-blockchain-rpc head advances"}),
    ("ns3-aitbc", "systemd-run --unit=aitbc-verify-fault false",
     {"ns3-aitbc: systemd running, no failed unit"}),
    # Password logins switched on, and loaded: sshd -T shows it.
    ("aitbc", "sed -i 's/^PasswordAuthentication no$/PasswordAuthentication yes/' "
     "/etc/ssh/sshd_config.d/00-aitbc.conf && systemctl reload ssh",
     {"aitbc: sshd -T shows the declared settings", "aitbc: sshd files as planned"}),
    # Edited and not loaded: the running sshd reads another configuration than the disk's.
    ("ns3-root", "sed -i 's/^AllowTcpForwarding local$/AllowTcpForwarding no/' "
     "/etc/ssh/sshd_config.d/00-aitbc.conf",
     {"ns3-root: sshd -T shows the declared settings", "ns3-root: sshd runs the configuration on disk",
      "ns3-root: sshd files as planned"}),
]
# Drift inside a host, seen by the checks of what the deploy manages (tests/verify/test_managed.py).
FAULTS += [
    ("aitbc", "sed -i '/^NoNewPrivileges=/d' /etc/systemd/system/coordinator-api.service && "
     "systemctl daemon-reload && systemctl restart coordinator-api", {
         "aitbc: app coordinator-api's units and env files as planned"}),
    ("aitbc", "chmod o+rwx /opt/coordinator-api/data", {"aitbc: directories as planned"}),
    # The env file touched after its service started: the service runs an older config.
    ("aitbc", "touch /etc/aitbc/aitbc-exchange-api.env", {
        "aitbc: unit aitbc-exchange-api runs its files on disk"}),
    ("ns3-root", "echo '# edited by hand' >> /etc/firehol/firehol.conf",
     {"ns3-root: firehol files as planned"}),
    ("aitbc", "touch /var/lib/aitbc/pending/restart-aitbc-wallet-daemon",
     {"aitbc: nothing owed by an unfinished deploy"}),
]
# What a redeploy leaves alone: undone by hand before it.
UNDO = [
    ("aitbc", "rmdir /opt/exchange/releases/fault-*"),
    # Its files are as planned: the deploy owes it nothing; what owes is the restart.
    ("aitbc", "systemctl restart aitbc-exchange-api"),
    ("ns3-aitbc", "systemctl reset-failed aitbc-verify-fault"),
]


def test_verify_passes_on_a_deployed_sandbox(deployed_inventory, tmp_path):
    report = tmp_path / "verify.xml"
    assert verify_fleet(deployed_inventory, junit_xml=report, outside_view=outside_view) == 0, \
        verify_failures(report)
    assert len(list(ET.parse(report).getroot().iter("testcase"))) > 100


def test_faults_fail_exactly_their_checks_then_redeploy_heals(deployed_inventory, tmp_path):
    with faults_injected(deployed_inventory, tmp_path, FAULTS, UNDO) as failures:
        assert set(failures) == set().union(*(checks for _, _, checks in FAULTS))
        assert "aitbc-wallet-daemon" in failures["aitbc: unit aitbc-wallet-daemon active and enabled"]
        assert "aitbc-verify-fault" in failures["ns3-aitbc: systemd running, no failed unit"]
        assert "broken" in failures["aitbc: nginx -t"]
