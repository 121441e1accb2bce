"""The sandbox fleet itself: `up` from nothing, reachability as designed, idempotent `up`,
and a `down` that leaves no link, mount or process behind. Runs first (see conftest.py) and
leaves a running fleet for the modules after it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_helpers import project_copy

from aitbc_infra import PROJECT_ROOT, sandbox
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import cgroups, fleet
from aitbc_infra.sandbox.plan import plan_for

# The machines the production inventory lays out (one per host and container).
MACHINES = plan_for(load_fleet(PROJECT_ROOT / "inventory.py")).machines
MACHINE_NAMES = tuple(m.name for m in MACHINES)

DAEMONS = ("systemd-nspawn", "pebble", "pebble-challtes")  # comm is cut at 15 characters


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _daemons() -> set[tuple[int, str]]:
    out = subprocess.run(["ps", "-eo", "pid=,comm="], capture_output=True, text=True,
                         check=True).stdout
    procs = {(int(pid), comm) for pid, comm in (line.split(None, 1) for line in out.splitlines())}
    return {(pid, comm) for pid, comm in procs if comm in DAEMONS}


def _sandbox_mounts() -> list[str]:
    state = str(sandbox.paths().state)
    return [line for line in Path("/proc/mounts").read_text().splitlines() if state in line]


def _ssh(host: str, *cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-F", str(sandbox.paths().ssh_config), "-o", "BatchMode=yes",
                           host, *cmd], capture_output=True, text=True, timeout=30, **kw)


@pytest.fixture(scope="module")
def cold_fleet(require_root):
    """Start from no sandbox at all, record the control machine's state, then `up`."""
    sandbox.down(progress=lambda _: None)
    before = {"links": _links(), "daemons": _daemons(), "mounts": _sandbox_mounts()}
    t0 = time.monotonic()
    inventory = sandbox.ensure_up()
    return {"before": before, "inventory": inventory, "up_seconds": time.monotonic() - t0,
            "pids": fleet.pids()}


def test_every_host_reports_running(cold_fleet):
    for host in MACHINE_NAMES:
        state = None
        for _ in range(30):  # bounded: ~30 s per host at worst
            res = _ssh(host, "systemctl", "is-system-running")
            state = res.stdout.strip()
            if state not in ("", "initializing", "starting"):
                break
            time.sleep(1)
        failed = _ssh(host, "systemctl", "--failed", "--no-legend").stdout
        assert state == "running", f"{host}: {state!r}; failed units: {failed}"


def test_hosts_and_addresses_as_planned(cold_fleet):
    for m in MACHINES:
        res = _ssh(m.name, "hostname; ip -4 -o addr show; ip route; getent hosts aitbc.bubuit.net")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0] == m.name
        for link in m.links:
            assert f"inet {link.address}/" in res.stdout, (m.name, link)
        has_default = any(line.startswith("default ") for line in lines)
        assert has_default == (m.gateway is not None), (m.name, res.stdout)
        assert "10.231.0.2" in lines[-1]


def test_machines_run_on_overlays(cold_fleet):
    mounts = _sandbox_mounts()
    assert len([line for line in mounts if " overlay " in line]) == len(MACHINES), mounts


def test_container_refuses_direct_ssh_but_answers_via_its_host(cold_fleet):
    direct = subprocess.run(
        ["ssh", "-F", str(sandbox.paths().ssh_config), "-o", "BatchMode=yes",
         "-o", "ProxyJump=none", "-o", "ConnectTimeout=5", "root@10.231.100.10", "true"],
        capture_output=True, text=True, timeout=30)
    assert direct.returncode != 0
    via_host = _ssh("ns3-aitbc", "hostname")
    assert via_host.stdout.strip() == "ns3-aitbc", via_host.stderr


def test_pyinfra_reaches_all_hosts_with_generated_inventory(cold_fleet):
    pyinfra = Path(sys.executable).parent / "pyinfra"
    res = subprocess.run(
        [str(pyinfra), "-y", str(cold_fleet["inventory"]), "exec", "--",
         "systemctl", "is-system-running"],
        capture_output=True, text=True, timeout=120, cwd=sandbox.paths().state.parent)
    out = res.stdout + res.stderr  # pyinfra logs host output on stderr
    assert res.returncode == 0, out
    for host in MACHINE_NAMES:
        assert re.search(rf"\[{re.escape(host)}\]\s+running$", out, re.M), out


def test_pebble_serves_acme_directory_with_our_ca(cold_fleet):
    res = subprocess.run(["curl", "-sf", "--noproxy", "*", "--cacert",
                          str(sandbox.paths().pebble_ca), "https://10.231.0.1:14000/dir"],
                         capture_output=True, text=True, timeout=15)
    assert res.returncode == 0 and "newOrder" in res.stdout, res.stderr


def test_status_command_reports_all_running(cold_fleet, capsys):
    from aitbc_infra.cli import main

    assert main(["sandbox", "status"]) == 0
    out = capsys.readouterr().out
    assert out.count(" running ") == len(MACHINES), out


def test_second_up_is_a_noop(cold_fleet):
    inventory_mtime = cold_fleet["inventory"].stat().st_mtime_ns
    # No machine started again, nothing rewritten: what "no-op" means, counted, not timed.
    assert sandbox.ensure_up(progress=lambda _: None) == cold_fleet["inventory"]
    assert fleet.pids() == cold_fleet["pids"]
    assert cold_fleet["inventory"].stat().st_mtime_ns == inventory_mtime


def _other_checkout(tmp: Path) -> Path:
    """A second checkout of this project on the same machine: the code and data `up` and `down`
    read (the payload linked: nothing is deployed)."""
    tree = project_copy(tmp / "checkout", ("src", "group_data", "templates", "constraints"))
    (tree / "payload").symlink_to(PROJECT_ROOT / "payload")
    return tree


def _sandbox_in(tree: Path, action: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aitbc_infra", "sandbox", action], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree / "src")},
                          capture_output=True, text=True, timeout=300)


def test_a_second_checkout_neither_brings_up_nor_takes_down_a_sandbox(cold_fleet, tmp_path):
    # Bridge, machine and address names are machine-wide: one sandbox at a time.
    other = _other_checkout(tmp_path)
    links = _links()
    up = _sandbox_in(other, "up")
    assert up.returncode == 2, up.stdout + up.stderr
    assert f"({sandbox.paths().state.resolve()}: " in up.stderr, up.stderr
    assert f"`aitbc-infra sandbox down` in {PROJECT_ROOT}" in up.stderr, up.stderr
    down = _sandbox_in(other, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"the sandbox running on this machine is {sandbox.paths().state.resolve()}'s" \
        in down.stdout, down.stdout
    # This checkout's sandbox as it was: every process, link and host.
    assert fleet.pids() == cold_fleet["pids"]
    assert _links() == links
    assert fleet.is_up()


def test_down_leaves_nothing_behind_then_up_again(cold_fleet):
    # Last in this module: it takes the fleet away, so it brings it back for later modules.
    t0 = time.monotonic()
    sandbox.down(progress=lambda line: print(f"{time.monotonic() - t0:5.1f} {line}"))
    before = cold_fleet["before"]
    assert _links() == before["links"]
    assert _daemons() == before["daemons"]
    assert _sandbox_mounts() == before["mounts"]
    assert fleet.pids() == {"pebble": None, "challtestsrv": None}
    assert not sandbox.paths().plan.exists()
    assert not [d for m in MACHINES for d in cgroups.dirs(m.name) if d.exists()]
    sandbox.ensure_up(progress=lambda _: None)
