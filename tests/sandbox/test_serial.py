"""`aitbc-infra deploy --serial` against the sandbox: a release whose gate fails on the first site
stops the run there, and the second site is left untouched: never connected to (its sshd logged
no login during the run), its files, units, nginx workers, releases and deploy history as they
were, though a run of every host would have brought it the same release. Then the good tree,
site by site, converges both sites, and a plain deploy after it changes nothing.

The coordinator API runs at both sites (aitbc and ns3-aitbc): the broken release is owed on each,
so "untouched" means a change the second site would have had, not one it never needed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from deploy_helpers import (
    BROKEN_COORDINATOR,
    COORDINATOR_MAIN,
    assert_clean,
    assert_noop,
    changed_tree,
    deploy,
    host_state,
)
from traffic import REPORTS

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import DEPLOY_HISTORY
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run


def _serial(inventory: Path, tree: Path = PROJECT_ROOT) -> tuple[subprocess.CompletedProcess, dict]:
    """`deploy --serial --json` of the project at `tree`: the run and its document."""
    done = subprocess.run([sys.executable, "-m", "aitbc_infra", "deploy", "--serial", "--json",
                           "--inventory", str(inventory)], cwd=tree, capture_output=True,
                          text=True, timeout=1800, env={**os.environ, "PYTHONPATH": str(tree / "src")})
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"stdout is not one JSON document: {done.stdout[:2000]!r}\n"
                             f"stderr: {done.stderr[-3000:]}") from None
    assert problems(doc, load("deploy")) == []
    assert doc["exit_code"] == done.returncode
    return done, doc


def _releases(fleet: Fleet, nodes: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
    """(node, app) -> (the release its .venv points at, every release kept on the host)."""
    found = {}
    for node in nodes:
        for app in fleet.hosts[node].apps:
            link = ssh_run(node, f"readlink {app.venv}", check=True).stdout
            found[(node, app.name)] = (link, ssh_run(node, f"ls {app.releases}",
                                                     check=True).stdout)
    return found


def _live(releases: dict[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {where: link for where, (link, _) in releases.items()}


def _history(nodes: list[str]) -> dict[str, str]:
    return {n: ssh_run(n, f"cat {DEPLOY_HISTORY}", check=True).stdout for n in nodes}


def _logins(nodes: list[str], since: float, until: float) -> dict[str, int]:
    """Per host, the SSH logins its sshd accepted between two moments (a container reached
    through its host with ProxyJump: the host's sshd logs the jump as well)."""
    count = (f"journalctl _COMM=sshd --since @{math.floor(since)} --until @{math.ceil(until)} "
             "-o cat | grep -c '^Accepted ' || true")
    return {n: int(ssh_run(n, count, check=True).stdout.strip() or 0) for n in nodes}


def test_a_failed_gate_on_the_first_site_leaves_the_second_untouched(deployed_inventory,
                                                                     tmp_path):
    fleet = load_fleet(deployed_inventory)
    sites = fleet.sites()
    (first, first_nodes), (second, second_nodes) = list(sites.items())[:2]
    coordinators = {n for n, h in fleet.hosts.items() if any(a.name == "coordinator-api"
                                                              for a in h.apps)}
    # The broken release is owed at both sites; the first fails its gate.
    assert coordinators & set(first_nodes) and coordinators & set(second_nodes), coordinators
    assert deploy(deployed_inventory).returncode == 0  # converged, whatever ran before
    tree = changed_tree(tmp_path, COORDINATOR_MAIN, *BROKEN_COORDINATOR["cannot start"])
    releases = _releases(fleet, list(fleet.hosts))
    before, history = host_state(deployed_inventory), _history(second_nodes)
    time.sleep(1.1)  # the reads above end in an earlier second than the run begins
    started = time.time()
    try:
        done, doc = _serial(deployed_inventory, tree)
        ended = time.time()
        time.sleep(1.1)  # and the reads below begin in a later second than it ended
        assert done.returncode == 1, done.stderr[-3000:]
        assert doc["sites"] == [
            {"site": first, "hosts": [fleet.hosts[n].name for n in first_nodes], "result": "failed"},
            {"site": second, "hosts": [fleet.hosts[n].name for n in second_nodes],
             "result": "not_attempted"},
            *({"site": s, "hosts": [fleet.hosts[n].name for n in nodes],
               "result": "not_attempted"} for s, nodes in list(sites.items())[2:])]
        failed = {d["node"] for d in doc["hosts"].values() if d["result"] == "failed"}
        assert failed == coordinators & set(first_nodes), failed
        assert {d["node"] for d in doc["hosts"].values() if d["result"] == "not_attempted"} \
            == set(fleet.hosts) - set(first_nodes)
        assert f"--> Site by site: stopped at site {first}, which failed" in done.stderr
        assert "coordinator-api failed its health check" in done.stderr
        assert f"--> Site {second} (" not in done.stderr

        # The second site: no login, and everything as it was (files, units, nginx workers,
        # releases built and live, no line in its deploy history).
        logins = _logins(list(fleet.hosts), started, ended)
        assert {n: logins[n] for n in second_nodes} == dict.fromkeys(second_nodes, 0), logins
        assert all(logins[n] > 0 for n in first_nodes), logins  # where the run did go
        after = host_state(deployed_inventory)
        assert {n: after[n] for n in second_nodes} == {n: before[n] for n in second_nodes}
        now = _releases(fleet, list(fleet.hosts))
        assert {k: v for k, v in now.items() if k[0] in second_nodes} == \
            {k: v for k, v in releases.items() if k[0] in second_nodes}
        assert _history(second_nodes) == history
        # The first site: its failed release never took traffic (built there, never live), and
        # its files and units are as they were too.
        assert _live(now) == _live(releases)
        assert after == before
        assert_clean(deployed_inventory)

        # The good tree, site by site: both sites converge (the first gets its wheelhouse back).
        started = time.monotonic()
        done, doc = _serial(deployed_inventory)
        serial_seconds = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-3000:]
        assert [s["result"] for s in doc["sites"]] == ["converged"] * len(sites)
        assert f"--> Site by site: all {len(sites)} site(s) converged" in done.stderr
    finally:
        assert deploy(deployed_inventory).returncode == 0
    assert _live(_releases(fleet, list(fleet.hosts))) == _live(releases)
    # Site by site and all at once, each a no-op now: what the serial order costs.
    started = time.monotonic()
    done, _ = _serial(deployed_inventory)
    serial_noop = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    started = time.monotonic()
    assert_noop(deployed_inventory)
    plain_noop = time.monotonic() - started
    REPORTS.append(f"deploy --serial: {len(sites)} sites converged in {serial_seconds:.1f}s; "
                   f"no-op {serial_noop:.1f}s site by site, {plain_noop:.1f}s all at once")
