"""Safe rollout, by fault injection against the running sandbox.

Each test breaks one thing on purpose (a change nginx or firehol rejects, a release that cannot
start, an unreachable host, a deploy killed mid-run, a second concurrent deploy) while a request
loop runs against the site, then checks the failure stayed where it belongs, the run said so,
and a later run converges. The request loop's report of every test ends the pytest output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_helpers import (
    BROKEN_COORDINATOR,
    COORDINATOR_MAIN,
    ROUTES,
    assert_clean,
    assert_noop,
    changed_tree,
    deploy,
    host_state,
    request_loop,
    start_deploy,
    variant_inventory,
)
from traffic import REPORTS

from aitbc_infra.host_names import FIREHOL_APPLIED_DIGEST
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run
from aitbc_infra.sandbox.ssh import ssh_argv
from deploys.shell import script

# Routes no app process answers: a restart of any service must never touch them.
STATIC_ROUTES = {p for p, (_, _, marker) in ROUTES.items() if not (marker and '"service"' in marker)}


# Rejected configuration ----------------------------------------------------------------


def test_rejected_nginx_change_costs_no_request(deployed_inventory, tmp_path):
    tree = changed_tree(tmp_path, "templates/nginx/_location.j2", "return 301 {{ route.to }};",
                        "return 301 {{ route.to }}")  # a lost semicolon
    before = host_state(deployed_inventory)
    with request_loop("rejected nginx change") as traffic:
        run = deploy(deployed_inventory, tree)
    assert run.returncode == 1
    assert "[emerg]" in run.output and "REJECTED by 'nginx -t -q'" in run.output
    failed = set(run.results["failed_hosts"])
    assert failed and failed <= {n for n, h in load_fleet(deployed_inventory).hosts.items()
                                 if h.nginx_sites}
    assert traffic.failed_routes() == set(), traffic.report()
    # Same files, same nginx workers (never reloaded), same units: as if the run never happened.
    assert host_state(deployed_inventory) == before
    assert_clean(deployed_inventory)
    assert_noop(deployed_inventory)


def test_rejected_firehol_change_costs_no_request(deployed_inventory, tmp_path):
    tree = changed_tree(tmp_path, "templates/firehol/firehol.conf.j2", "    client all accept\n",
                        "    client all accept\n    server nosuchservice accept\n")
    rules = script("firehol-state", FIREHOL_APPLIED_DIGEST)
    # Every host with a firewall renders the template: each rejects the change.
    hosts = sorted(n for n, h in load_fleet(deployed_inventory).hosts.items() if h.firewall)
    rules_before = {n: ssh_run(n, rules, check=True).stdout for n in hosts}
    before = host_state(deployed_inventory)
    with request_loop("rejected firehol change") as traffic:
        run = deploy(deployed_inventory, tree)
    assert run.returncode == 1
    assert sorted(run.results["failed_hosts"]) == hosts
    assert "There is no service 'nosuchservice' defined" in run.output
    assert traffic.failed_routes() == set(), traffic.report()
    # Live rules untouched.
    assert {n: ssh_run(n, rules, check=True).stdout for n in hosts} == rules_before
    assert host_state(deployed_inventory) == before
    assert_clean(deployed_inventory)
    assert_noop(deployed_inventory)


def test_rejected_unit_change_keeps_the_service(deployed_inventory, tmp_path):
    tree = changed_tree(tmp_path, "templates/systemd/service.j2", "ExecStart={{ app.venv }}",
                        "ExecStart=.venv")  # not an absolute path: systemd refuses the unit
    before = host_state(deployed_inventory)
    with request_loop("rejected unit change") as traffic:
        run = deploy(deployed_inventory, tree)
    assert run.returncode == 1
    assert "REJECTED by 'systemd-analyze verify" in run.output
    assert traffic.failed_routes() == set(), traffic.report()
    assert host_state(deployed_inventory) == before
    assert_clean(deployed_inventory)
    assert_noop(deployed_inventory)


# Releases: candidate, cutover, health gate -----------------------------------------------


def _active_releases(fleet) -> dict[tuple[str, str], str]:
    """(node, app) -> the release its .venv points at."""
    found = {}
    for node, host in fleet.hosts.items():
        if host.apps:
            links = ssh_run(node, "readlink " + " ".join(a.venv for a in host.apps), check=True)
            found.update(zip(((node, a.name) for a in host.apps), links.stdout.split(), strict=True))
    return found


def _active_release(node: str) -> str:
    return ssh_run(node, "readlink /opt/coordinator-api/.venv", check=True).stdout.strip()


# One file of each app's sources (the crypto package is in coordinator-api and wallet-daemon,
# the chain package in every node, server.py in the tree trade-exchange and exchange share).
EVERY_APP = (("payload/packages/py/aitbc-crypto/src/aitbc_crypto/__init__.py", "", "# release 2\n"),
             ("payload/apps/blockchain-node/src/aitbc_chain/__init__.py", "", "# release 2\n"),
             ("payload/apps/trade-exchange/server.py", "", "# release 2\n"))


def test_release_of_every_app_and_back_costs_no_request(deployed_inventory, tmp_path):
    fleet = load_fleet(deployed_inventory)
    before = _active_releases(fleet)
    tree = changed_tree(tmp_path, *EVERY_APP[0], also=EVERY_APP[1:])
    with request_loop("a new release of every app") as traffic:
        started = time.monotonic()
        run = deploy(deployed_inventory, tree)
        took = time.monotonic() - started
    assert run.returncode == 0, run.output[-3000:]
    released = _active_releases(fleet)
    assert {k for k in before if released[k] == before[k]} == set(), "an app kept its release"
    assert traffic.failed_routes() == set(), traffic.report()
    REPORTS.append(f"every app released: {traffic.sent} requests, 0 failed, slowest "
                           f"{traffic.slowest:.2f}s, deploy {took:.0f}s")
    with request_loop("every app back to its previous release") as traffic:
        run = deploy(deployed_inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert _active_releases(fleet) == before
    assert traffic.failed_routes() == set(), traffic.report()
    assert_clean(deployed_inventory)


@pytest.mark.parametrize("fault", sorted(BROKEN_COORDINATOR))
def test_release_failing_as_a_candidate_never_takes_traffic(deployed_inventory, tmp_path, fault):
    tree = changed_tree(tmp_path, COORDINATOR_MAIN, *BROKEN_COORDINATOR[fault])
    fleet = load_fleet(deployed_inventory)
    runs_coordinator = {n for n, h in fleet.hosts.items() if any(a.name == "coordinator-api"
                                                                 for a in h.apps)}
    releases = {n: _active_release(n) for n in runs_coordinator}
    before = host_state(deployed_inventory)
    with request_loop(f"coordinator-api release: {fault}") as traffic:
        run = deploy(deployed_inventory, tree)
    assert run.returncode == 1
    assert set(run.results["failed_hosts"]) == runs_coordinator
    assert run.output.count("coordinator-api failed its health check") == len(runs_coordinator)
    assert "as a candidate of release" in run.output and "it never took traffic" in run.output
    assert {n: _active_release(n) for n in runs_coordinator} == releases
    # Not one request saw it, and the live units never restarted.
    assert traffic.failed_routes() == set(), traffic.report()
    assert host_state(deployed_inventory) == before
    assert_clean(deployed_inventory)
    # Back to the good tree: the wheelhouse gets its wheel back, nothing restarts.
    run = deploy(deployed_inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert all("/var/cache/aitbc/wheelhouse" in op for op in run.changed_operations()), \
        run.changed_operations()


def test_env_change_failing_as_a_candidate_puts_the_env_file_back(deployed_inventory, tmp_path):
    # A database directory that does not exist: the coordinator exits at start.
    variant = variant_inventory(tmp_path, "aitbc_container", '{root}/data/coordinator.db"',
                                '{root}/missing/coordinator.db"')
    before = host_state(deployed_inventory)
    with request_loop("coordinator-api env change that cannot start") as traffic:
        run = deploy(variant)
    assert run.returncode == 1
    assert run.results["failed_hosts"] == ["aitbc"]
    assert "coordinator-api failed its health check" in run.output
    assert traffic.failed_routes() == set(), traffic.report()
    assert host_state(deployed_inventory) == before  # the env file is the previous one again
    assert_clean(deployed_inventory)
    assert_noop(deployed_inventory)


def test_node_release_failing_its_gate_rolls_back_release_and_env(deployed_inventory, tmp_path):
    # A node never runs twice (side_by_side: false): it restarts in place and is gated live.
    # Its database in a directory that does not exist: the schema step fails, so node and RPC
    # (which require it) never start.
    variant = variant_inventory(tmp_path, "aitbc_container", '"{root}/data/chain2.db"',
                                '"{root}/missing/chain2.db"')
    fleet = load_fleet(deployed_inventory)
    timeout = fleet.hosts["aitbc"].rollout.health_timeout_seconds
    before = host_state(deployed_inventory)
    with request_loop("blockchain-node-2 env change that fails its gate") as traffic:
        run = deploy(variant)
    assert run.returncode == 1
    assert "aitbc-blockchain-schema-2 did not stay up (systemd result: exit-code)" in run.output, \
        run.output[-3000:]
    assert "RESTORED the previous unit and env files of /opt/blockchain-node-2: healthy again" \
        in run.output
    after = host_state(deployed_inventory)
    assert after["aitbc"]["files"] == before["aitbc"]["files"]
    for route in traffic.failed_routes():  # what a node's failed release costs, at most
        assert traffic.counts[route].outage_seconds < timeout + 15, traffic.report()
    REPORTS.append(f"node 2 gate failure: routes failing {sorted(traffic.failed_routes())}")
    assert_clean(deployed_inventory)
    assert_noop(deployed_inventory)


# Unreachable host ----------------------------------------------------------------------


def _drift_env_dirs(fleet) -> None:
    """Loosen every host's env directory (declared 0700): drift a run must repair."""
    for node, host in fleet.hosts.items():
        ssh_run(node, f"chmod 0755 {host.env_dir}", check=True)


def _env_dir_modes(fleet) -> dict[str, str]:
    return {n: ssh_run(n, f"stat -c %a {h.env_dir}", check=True).stdout.strip()
            for n, h in fleet.hosts.items()}


def test_unreachable_host_fails_alone_and_converges_later(deployed_inventory, tmp_path):
    fleet = load_fleet(deployed_inventory)
    _drift_env_dirs(fleet)
    # aitbc behind an address nothing answers on: the sandbox routes it nowhere.
    variant = tmp_path / "inventory.py"
    variant.write_text(deployed_inventory.read_text().replace(
        "'ssh_hostname': 'aitbc'", "'ssh_hostname': '10.231.223.250'"))
    cli = [str(Path(sys.executable).with_name("aitbc-infra")), "deploy", "--inventory"]
    with request_loop("one host unreachable") as traffic:
        run = subprocess.run([*cli, str(variant)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr[-3000:]
    assert "1 of 4 host(s) failed: aitbc" in run.stdout
    assert "FAILED   aitbc        no operation ran: could not connect" in run.stdout
    modes = _env_dir_modes(fleet)
    assert modes.pop("aitbc") == "755"
    assert set(modes.values()) == {"700"}, modes
    assert traffic.failed_routes() == set(), traffic.report()
    # Back: a run converges it too.
    run = subprocess.run([*cli, str(deployed_inventory)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "all 4 host(s) converged" in run.stdout
    assert set(_env_dir_modes(fleet).values()) == {"700"}


# Killed deploy -------------------------------------------------------------------------


# As the first app's unit, socket and env files are written, or as a release activates.
@pytest.mark.parametrize("kill_at", ["unit, socket and env files", "activate release"])
def test_killed_deploy_leaves_whole_files_and_the_next_run_converges(deployed_inventory, tmp_path,
                                                                     kill_at):
    # One origin more for CORS: new env files for several services on several hosts.
    tree = changed_tree(tmp_path, "group_data/all.py", '"http://localhost:8011",',
                        '"http://localhost:8011",\n    "http://localhost:8012",')
    before = host_state(deployed_inventory)
    try:
        with request_loop(f"deploy killed at '{kill_at}', then run again") as traffic:
            killed = _killed_at(kill_at, deployed_inventory, tree)
            run = deploy(deployed_inventory, tree)
        assert run.returncode == 0, run.output[-3000:]
        # Restarted services may drop a request or two while restarting; nothing else may.
        assert not traffic.failed_routes() & STATIC_ROUTES, traffic.report()
        assert traffic.failing_at_the_end() == set(), traffic.report()
        after = host_state(deployed_inventory)
        for node in before:
            for path, digest in killed[node]["files"].items():
                assert digest in (before[node]["files"][path], after[node]["files"][path]), \
                    f"{node}:{path} is neither the old nor the new file"
        assert after != before  # the change did land
        assert_clean(deployed_inventory)
        rerun = deploy(deployed_inventory, tree)
        assert (rerun.returncode, rerun.changed) == (0, 0), rerun.changed_operations()
    finally:
        assert deploy(deployed_inventory).returncode == 0


def _killed_at(operation: str, inventory: Path, tree: Path) -> dict[str, dict]:
    """Start the deploy of `tree`, SIGKILL it as `operation` starts; the hosts' state then."""
    proc = start_deploy(inventory, tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        start_new_session=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("--> Starting operation:") and operation in line:
            break
    else:
        # The output ended without the operation: the deploy is over, there is nothing to
        # kill (killpg would only say ProcessLookupError); say what it did instead.
        proc.wait()
        pytest.fail(f"the deploy ended (exit {proc.returncode}) before {operation!r} started; "
                    "its last lines:\n" + "".join(seen[-40:]))
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        # Nothing of the deploy is left: it ended by itself as the operation began; its
        # exit and last lines say why, where a bare ProcessLookupError said nothing.
        seen += proc.stderr.readlines()
        proc.wait()
        pytest.fail(f"the deploy ended (exit {proc.returncode}) as {operation!r} started, before "
                    "it could be killed; its last lines:\n" + "".join(seen[-40:]))
    proc.wait()
    return host_state(inventory)


# Lock ----------------------------------------------------------------------------------


def test_a_held_lock_fails_that_host_only(deployed_inventory):
    from deploys.lock import lock_command

    fleet = load_fleet(deployed_inventory)
    holder = subprocess.Popen(ssh_argv("at1", lock_command("ops@elsewhere (pid 4242)")),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        _drift_env_dirs(fleet)
        with request_loop("deploy lock held on at1") as traffic:
            run = deploy(deployed_inventory)
        assert run.returncode == 1
        assert run.results["failed_hosts"] == ["at1"]
        assert "held by ops@elsewhere (pid 4242)" in run.summary
        modes = _env_dir_modes(fleet)
        assert modes.pop("at1") == "755"  # nothing ran there
        assert set(modes.values()) == {"700"}
        assert traffic.failed_routes() == set(), traffic.report()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    run = deploy(deployed_inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert _env_dir_modes(fleet)["at1"] == "700"


def test_a_concurrent_deploy_fails_clearly_and_changes_nothing(deployed_inventory, tmp_path):
    # A harmless source change, new on every run: a release to build, which takes a while.
    tree = changed_tree(tmp_path, "payload/apps/wallet-daemon/src/app/main.py", '"""Demo',
                        f'"""(rebuilt {time.time_ns()}) Demo')
    with request_loop("a second deploy while the first builds a wallet release") as traffic:
        first = start_deploy(deployed_inventory, tree, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            building = "Starting operation: wallet-daemon: build release"
            assert any(building in line for line in first.stderr), "the first run never built"
            second = deploy(deployed_inventory)
            for _ in first.stderr:  # let the first run finish
                pass
            assert first.wait(timeout=600) == 0
        finally:
            first.kill()
    # Only the wallet restarts (its new release), and only the first run restarts it.
    assert traffic.failed_routes() <= {"/wallet/"}, traffic.report()
    assert traffic.failing_at_the_end() == set(), traffic.report()
    assert second.returncode == 1
    assert set(second.results["failed_hosts"]) == set(load_fleet(deployed_inventory).hosts)
    assert second.changed == 0
    assert f"(pid {first.pid}," in second.summary
    assert deploy(deployed_inventory).returncode == 0
