"""`aitbc-infra status` against the sandbox: a converged fleet is healthy (exit 0 within 3 s on
its 4 hosts, a --json document that holds to schemas/status.json, every host read); a stopped
unit, a hand-edited firewall, a certificate close to its end and a chain node whose sync has
stopped are each named (host, what, why) with exit 1, then undone and the fleet is healthy
again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

from deploy_helpers import deploy, variant_inventory

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import ACME_WEBROOT, FIREHOL_CONF
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import certificate_lineage
from aitbc_infra.sandbox import paths, ssh_run
from aitbc_infra.sandbox.pebble import SHORT_LIVED_URL, short_lived
from aitbc_infra.status import CERT_WARN_DAYS, HEAD_PATH
from deploys.tls import certbot_command

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
    # The whole command, from its start (interpreter, the inventory's validation) to its end;
    # the best of three, so that what is timed is the command, not a busy moment of the
    # 2-core machine it shares with the rest of the suite.
    times = []
    for _ in range(3):
        started = time.monotonic()
        timed = _status(deployed_inventory, "--json")
        times.append(time.monotonic() - started)
        assert timed.returncode == 0, timed.stdout[-3000:] + timed.stderr[-3000:]
        assert len(json.loads(timed.stdout)["hosts"]) == 4
    assert min(times) < 3.0, f"status of a healthy fleet of 4 hosts took {times} s"
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


# A certificate close to its end -----------------------------------------------------------------

# ns3-root's certificate is issued again, for real, by a second pebble whose certificates live a
# week (its `certificateValidityPeriod`): certbot's own HTTP-01 flow, as the deploy runs it
# (deploys/tls.py), into the lineage status reads. Status's threshold stays what an operator
# has; neither it nor the certificate is faked. Then the sandbox's pebble issues it again.
SHORT_LIFETIME_DAYS = 7
assert SHORT_LIFETIME_DAYS < CERT_WARN_DAYS
CERT_HOST = "ns3-root"


def _issue(inventory, server: str) -> str:
    """Issue CERT_HOST's certificate again from `server` (an ACME directory); its lineage."""
    spec = load_fleet(inventory).hosts[CERT_HOST]
    site = next(s for s in spec.nginx_sites if s.tls)
    lineage = certificate_lineage(spec, site)
    command = certbot_command(email=spec.acme_email, server=server, webroot=ACME_WEBROOT,
                              lineage=lineage, domains=[site.server_name])
    ssh_run(CERT_HOST, f"{command} --force-renewal", check=True, timeout=180)
    return lineage


def test_status_names_a_certificate_close_to_its_end(deployed_inventory):
    assert deploy(deployed_inventory).returncode == 0
    _assert_healthy(deployed_inventory)
    served_by = load_fleet(deployed_inventory).hosts[CERT_HOST].acme_server
    try:
        with short_lived(paths(), SHORT_LIFETIME_DAYS * 86400) as server:
            lineage = _issue(deployed_inventory, server)
        doc = _document(deployed_inventory, 1)
        cert = next(c for c in doc["hosts"][CERT_HOST]["certificates"] if c["lineage"] == lineage)
        # Issued a moment ago for a week less a second: six whole days left.
        assert cert["days_left"] == SHORT_LIFETIME_DAYS - 1, cert
        named = _named(doc)
        assert set(named) == {(CERT_HOST, f"certificate {lineage}")}, named
        assert named[(CERT_HOST, f"certificate {lineage}")] == (
            f"expires in {SHORT_LIFETIME_DAYS - 1} day(s), on {cert['not_after']} "
            f"(under {CERT_WARN_DAYS})")
        table = _status(deployed_inventory)
        assert table.returncode == 1
        assert (f"aitbc-infra status: {CERT_HOST}: certificate {lineage}: expires in "
                f"{SHORT_LIFETIME_DAYS - 1} day(s)") in table.stderr
    finally:
        _issue(deployed_inventory, served_by)
        # The account certbot made at the second server: nothing renews through it.
        ssh_run(CERT_HOST, f"rm -rf /etc/letsencrypt/accounts/{urlsplit(SHORT_LIVED_URL).netloc}",
                check=True)
    _assert_healthy(deployed_inventory)
    doc = _document(deployed_inventory, 0)
    assert all(c["days_left"] >= 89 for h in doc["hosts"].values() for c in h["certificates"])


# A chain node whose sync has stopped --------------------------------------------------------------


def _follower(fleet) -> tuple[str, str, str]:
    """(host, its app, the public site it follows): the first chain node of the data that
    follows a peer site, which it reaches over the wan."""
    return next((node, app.name, peer) for node, host in fleet.hosts.items() for app in host.apps
                if app.chain for peer in app.peers if peer in host.sites)


def _until(inventory, code: int, seconds: float) -> dict:
    """status --json, again every 2 s, until it exits `code`; its document then."""
    deadline = time.monotonic() + seconds
    while True:
        read = _status(inventory, "--json")
        if read.returncode == code or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert read.returncode == code, f"no exit {code} in {seconds} s: " + read.stdout[-3000:]
    doc = json.loads(read.stdout)
    assert problems(doc, load("status")) == []
    return doc


def test_status_names_a_chain_node_whose_sync_has_stopped(deployed_inventory, tmp_path):
    assert deploy(deployed_inventory).returncode == 0
    fleet = load_fleet(deployed_inventory)
    node, app, peer = _follower(fleet)  # node 1 on aitbc, following ns3's public site
    # The data declares no sync status (the real tree's poller is not in git); the payload's
    # node reports one. Declared here only: status reads it, nothing is deployed.
    group = fleet.hosts[node].role
    declared = f'"peers": ["{peer}"],'
    variant = variant_inventory(tmp_path, group, declared,
                                f'{declared} "sync_status": "/rpc/syncStatus",')
    follower = fleet.hosts[node]
    rpc = next(svc.unit for a, svc in follower.services if a.name == app and svc.health == HEAD_PATH)
    answered = fleet.answered_by(peer, HEAD_PATH)
    assert answered is not None and answered[0] != node  # a unit of another site
    doc = _until(variant, 0, 15)  # its last fetch of the peer is recent
    view = next(h for h in doc["hosts"][node]["chain"] if h["unit"] == rpc)["peers"][0]
    assert (view["node"], view["unit"]) == answered
    lag_max = next(h for h in doc["hosts"][node]["chain"] if h["unit"] == rpc)["lag_max"]
    assert view["behind"] is not None and view["behind"] <= lag_max, view

    # The path to the peer's public address cut on the follower: each fetch fails at once and
    # what it saw of the peer ages, a block every block time, past three sync intervals' worth.
    wan = str(fleet.public_host(peer).public_address)
    interval = follower.chain.sync_interval_seconds
    try:
        ssh_run(node, f"ip route replace blackhole {wan}/32", check=True)
        # Named once the peer's head is lag_max blocks past the last height it saw: at most one
        # interval since that fetch, then three intervals' blocks.
        lagging = _until(variant, 1, 4 * interval + 20)
        named = _named(lagging)
        assert set(named) == {(node, f"chain node {rpc}")}, named
        why = named[(node, f"chain node {rpc}")]
        assert why.startswith(f"saw its peer {fleet.peer_url(follower, peer)} at height "), why
        assert f"{answered[1]} on {answered[0]}" in why and "its sync has stopped" in why, why
        table = _status(variant)
        assert table.returncode == 1
        assert f"aitbc-infra status: {node}: chain node {rpc}: saw its peer" in table.stderr
    finally:
        ssh_run(node, f"ip route del blackhole {wan}/32")
    # The next fetch (within a sync interval) brings it back.
    _until(variant, 0, 2 * interval + 10)
    _assert_healthy(deployed_inventory)
