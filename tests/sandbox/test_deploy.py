"""`pyinfra <sandbox inventory> deploys/site.py` against real hosts: converge, idempotence,
minimal change. The first run in CI meets bare machines (test_fleet.py ends with a fresh `up`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from deploy_helpers import ROUTES, deploy, fetch, host_state, variant_inventory
from system_state import not_running

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy import pyinfra_command
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run
from aitbc_infra.summary import run_results


@pytest.fixture(scope="module")
def first_run(sandbox_inventory):
    run = deploy(sandbox_inventory)
    assert run.returncode == 0, run.output[-4000:]
    return run


def test_first_run_converges_and_every_unit_is_active(first_run, sandbox_inventory):
    fleet = load_fleet(sandbox_inventory)
    for node, host in fleet.hosts.items():
        units = [svc.started_unit for _, svc in host.services]
        if host.nginx_sites:
            units.append("nginx")
        if not units:
            continue
        out = ssh_run(node, "systemctl is-active " + " ".join(units)).stdout.split()
        assert out == ["active"] * len(units), f"{node}: {dict(zip(units, out, strict=False))}"


def test_first_run_leaves_every_host_running(first_run, sandbox_inventory):
    # No failed unit anywhere: ours, or one of a package the run installed (firehol's own start
    # fails at install, before /etc/default/firehol enables it).
    assert not_running(load_fleet(sandbox_inventory).hosts) == {}


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_route_through_tls_proxy(first_run, path):
    status, location, marker = ROUTES[path]
    got_status, got_location, body = fetch(path)
    assert got_status == status, f"{path}: {got_status} {body[:200]}"
    if location:
        assert got_location == location
    if marker:
        assert marker in body, f"{path}: marker {marker!r} not in {body[:200]!r}"


def _admin_keys() -> dict[str, str]:
    """Each site's (first) admin key, as the sandbox generated them."""
    from aitbc_infra.sandbox import paths
    from aitbc_infra.secrets import read_secrets_file

    return {s.site: s.value.split(",")[0] for s in read_secrets_file(paths().secrets)
            if s.name == "ADMIN_API_KEYS" and s.site}


def test_admin_accepts_the_configured_key(first_run, sandbox_inventory):
    status, _, body = fetch("/admin/stats", headers={"X-Api-Key": _admin_keys()["at1"]})
    assert status == 200, body[:200]


def test_each_sites_coordinator_accepts_its_own_admin_key_only(first_run):
    keys = _admin_keys()
    assert keys["at1"] != keys["ns3-root"]
    for site, expected in (("ns3-root", "200"), ("at1", "401")):
        # ns3's coordinator through its public forward; the key on stdin, never in an argv.
        status = ssh_run("at1", "curl -s -m 5 -o /dev/null -w '%{http_code}' -H @- "
                         "http://10.231.0.3:8000/v1/admin/stats",
                         input=f"X-Api-Key: {keys[site]}\n").stdout
        assert status == expected, f"ns3's coordinator answered {status} to {site}'s key"


def test_the_wallet_daemon_reaches_its_coordinator(first_run):
    # What the daemon read (COORDINATOR_BASE_URL) answers from its container. Asked there: the
    # site's /wallet/ route reaches none of its routes (they are under /v1/).
    body = ssh_run("aitbc", "curl -sf -m 5 http://127.0.0.1:8002/v1/receipts/job-1").stdout
    assert json.loads(body)["receipt_check"] is True, body[:200]
    url = json.loads(body)["coordinator"]
    assert url == "http://127.0.0.1:8000"
    health = ssh_run("aitbc", f"curl -s -m 5 {url}/v1/health").stdout
    assert '"service"' in health, health[:200]


def test_http_redirects_to_https(first_run):
    out = ssh_run("ns3-root", "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "
                  "http://aitbc.bubuit.net/rpc/head").stdout
    assert out == "301 https://aitbc.bubuit.net/rpc/head"


@pytest.mark.parametrize("port", [8000, 8081, 8082, 9080])
def test_ns3_forwards_answer_on_the_public_address(first_run, port):
    # From at1, over the sandbox "internet", to ns3-root's public address.
    out = ssh_run("at1", f"curl -s -m 5 http://10.231.0.3:{port}/"
                  + ("v1/health" if port == 8000 else "rpc/head")).stdout
    assert '"service"' in out, f"port {port}: {out[:200]}"


def test_node_1_sees_node_3_through_ns3_front(first_run, sandbox_inventory):
    fleet = load_fleet(sandbox_inventory)
    peer = fleet.peer_url(fleet.hosts["aitbc"], "aitbc.keisanki.net")  # as rendered into PEERS
    # The payload's node reports what its PEERS (rendered from `peers`) answered.
    deadline = time.monotonic() + 40  # peers are polled every 10 s
    peers = []
    while time.monotonic() < deadline:
        status, _, body = fetch("/rpc/syncStatus")
        peers = json.loads(body).get("peers", []) if status == 200 else []
        if any(p.get("url") == peer and p.get("height") for p in peers):
            return
        time.sleep(2)
    raise AssertionError(f"node 1 has no head from node 3: {peers}")


def test_second_run_changes_and_restarts_nothing(first_run, sandbox_inventory):
    before = host_state(sandbox_inventory)
    run = deploy(sandbox_inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == 0, run.changed_operations()
    after = host_state(sandbox_inventory)
    assert after == before
    assert not_running(after) == {}


def _differing(before: dict, after: dict, kind: str) -> set[tuple[str, str]]:
    """(host, file or unit) whose checksum or start time differs between two host_state()s."""
    return {(node, name) for node in before for name, value in before[node][kind].items()
            if after[node][kind].get(name) != value}


# Each change: (group module, old text, new text), the files it rewrites, and the decision a dry
# run prints for it (deploys/site.py: "[HOST] owed: ..." before the first operation).
CHANGES = {
    "route": (("aitbc_container", '"to": "/marketplace/"', '"to": "/marketplace/index.html"'),
              {("aitbc", "/etc/nginx/sites-available/aitbc.bubuit.net")},
              {"aitbc": ["reload nginx: /etc/nginx/sites-available/aitbc.bubuit.net changed"]}),
    "env": (("aitbc_container", '"env": {"LEDGER_DB_PATH": ',
             '"env": {"WALLET_NAME": "sandbox", "LEDGER_DB_PATH": '),
            {("aitbc", "/etc/aitbc/aitbc-wallet-daemon.env")},
            {"aitbc": ["restart aitbc-wallet-daemon: /etc/aitbc/aitbc-wallet-daemon.env changed"]}),
}


def _decided(owed: dict[str, list[str]]) -> tuple[set[tuple[str, str]], set[str]]:
    """The (host, unit) restarts and the hosts reloading nginx that decision lines name."""
    restarts, reloads = set(), set()
    for node, lines in owed.items():
        for line in lines:
            verb, _, rest = line.partition(" ")
            what = rest.split(":", 1)[0]
            if verb in ("restart", "start"):
                restarts.add((node, what.split(" and ")[-1]))
            elif verb == "reload" and what == "nginx":
                reloads.add(node)
    return restarts, reloads


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_decision_a_dry_run_prints_is_what_the_deploy_does(first_run, sandbox_inventory,
                                                               tmp_path, change):
    """The decision is made once (aitbc_infra/decision.py): the dry run prints it, changing
    nothing; the deploy then restarts exactly the units it named and reloads exactly the nginx
    it named, as systemd and nginx's workers record."""
    (group, old, new), files, owed = CHANGES[change]
    before = host_state(sandbox_inventory)
    variant = variant_inventory(tmp_path, group, old, new)
    dry = subprocess.run(pyinfra_command(variant, "--dry"), cwd=PROJECT_ROOT, text=True,
                         capture_output=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")})
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert run_results("", dry.stderr).get("owed") == owed
    assert host_state(sandbox_inventory) == before  # a dry run changes nothing
    try:
        run = deploy(variant)
        assert run.returncode == 0, run.output[-3000:]
        assert run.results.get("owed") == owed  # the run's summary: the same decision
        after = host_state(variant)
        assert _differing(before, after, "files") == files
        restarted = _differing(before, after, "units")
        reloaded = {node for node in before
                    if before[node]["nginx_workers"] != after[node]["nginx_workers"]}
        assert (restarted, reloaded) == _decided(owed)
    finally:
        assert deploy(sandbox_inventory).returncode == 0
