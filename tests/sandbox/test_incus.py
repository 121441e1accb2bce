"""The incus side, against a real incusd on this machine: `sandbox deploy --incus` brings the
whole site up with both containers provisioned by incus (from no containers), every route
answers, a second provision changes nothing, --dry changes nothing, a container deleted by hand
comes back, one the model no longer lists is kept unless --prune, and `down` leaves nothing.

Runs last (conftest.py): it brings the nspawn sandbox down first and the sandbox down at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from deploy_helpers import ROUTES, fetch

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.incus import MANAGED_KEY, stable_mac
from aitbc_infra.sandbox import down, paths, ssh_run
from aitbc_infra.sandbox.incus import STATE

CLI = [sys.executable, "-m", "aitbc_infra"]
DECLARED = {"aitbc": "10.231.223.93", "ns3-aitbc": "10.231.100.10"}
TIMES: dict[str, float] = {}


def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    proc = subprocess.run([*CLI, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)
    TIMES[" ".join(args[:3])] = time.monotonic() - t0
    return proc


def provision(*extra: str) -> subprocess.CompletedProcess:
    return run("provision", "--inventory", str(paths().inventory), *extra, timeout=300)


def instances() -> dict[str, dict]:
    out = subprocess.run(["incus", "list", "--format", "json"], capture_output=True, text=True,
                         check=True).stdout
    return {i["name"]: i for i in json.loads(out)}


def ipv4(instance: dict) -> set[str]:
    nets = (instance.get("state") or {}).get("network") or {}
    return {a["address"] for a in nets.get("eth0", {}).get("addresses", []) if a["family"] == "inet"}


@pytest.fixture(scope="module")
def incus_site(require_root):
    down(progress=lambda _: None)  # from no containers
    proc = run("sandbox", "deploy", "--incus", timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    yield proc
    down(progress=lambda _: None)
    print(f"\nincus timings: {', '.join(f'{k}: {v:.1f} s' for k, v in TIMES.items())}")


def test_containers_are_incus_containers_at_their_addresses(incus_site):
    found = instances()
    for name, address in DECLARED.items():
        assert found[name]["status"] == "Running"
        assert found[name]["config"][MANAGED_KEY] == "managed"
        assert ipv4(found[name]) == {address}
    assert not list(paths().pids.glob("aitbc.pid")), "no nspawn machine for an incus container"


def test_every_route_answers(incus_site):
    for path, (status, location, marker) in ROUTES.items():
        got, got_location, body = fetch(path)
        assert got == status, f"{path}: {got}"
        if location:
            assert got_location == location
        if marker:
            assert marker in body, path


def test_second_provision_changes_nothing(incus_site):
    proc = provision()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ok       @local       0 changed" in proc.stdout, proc.stdout


def test_dry_run_shows_and_changes_nothing_then_a_deleted_container_comes_back(incus_site):
    subprocess.run(["incus", "delete", "--force", "ns3-aitbc"], check=True)
    dry = provision("--dry")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "incus container ns3-aitbc" in dry.stdout + dry.stderr
    assert "ns3-aitbc" not in instances(), "--dry created the container"
    proc = provision()
    assert proc.returncode == 0, proc.stderr[-3000:]
    recreated = instances()["ns3-aitbc"]
    assert ipv4(recreated) <= {DECLARED["ns3-aitbc"]}
    # The MAC it had before: the jump host's neighbour entry for the address stays right.
    assert recreated["expanded_devices"]["eth0"]["hwaddr"] == \
        stable_mac(IPv4Address(DECLARED["ns3-aitbc"]))
    # Reached as the deploy reaches it: through ns3-root, strict host key checking.
    # `is-system-running --wait` exits non-zero for "degraded" too (a unit failed): ssh's own
    # failure is exit 255, told apart, and a degraded machine names its failed units.
    deadline = time.monotonic() + 60
    while True:
        state = ssh_run("ns3-aitbc", "systemctl is-system-running --wait; "
                        "systemctl list-units --failed --plain --no-legend", timeout=70)
        if state.returncode == 0 and state.stdout.startswith("running"):
            break
        assert time.monotonic() < deadline, (
            "the recreated container never answered over ssh: " + state.stderr[-500:]
            + _network_seen("ns3-aitbc", "ns3-root")
            if state.returncode == 255 else
            f"the recreated container is not running: {state.stdout.strip()}")
        time.sleep(1)
    assert "0 changed" in provision().stdout


def _network_seen(container: str, jump: str) -> str:
    """What stands between the jump host and the container, for a failure's message: the
    container's addresses, sshd and networkd inside it, its listeners; the jump host's
    neighbour entry and route to it (a recreated container has a new MAC), whether a banner
    reaches it from port 22, its own sshd's log (where a forwarding it could not open shows)."""
    inside = subprocess.run(
        ["incus", "exec", container, "--", "sh", "-c",
         "ip -4 -br addr; ip -br link; systemctl is-active ssh systemd-networkd; ss -ltnH; "
         "journalctl -b -q --no-pager -n 20 -u ssh -u systemd-networkd"],
        capture_output=True, text=True, timeout=30)
    address = DECLARED[container]
    outside = ssh_run(jump, f"ip neigh show {address}; ip -4 route get {address}; "
                      f"ping -c 2 -W 1 {address} | tail -n 2; "
                      f"timeout 5 bash -c 'head -c 40 </dev/tcp/{address}/22'; echo; "
                      "journalctl -q --no-pager -n 15 -u ssh; conntrack -L -d "
                      f"{address} 2>/dev/null | head -n 5", timeout=30)
    return (f"\n--- inside {container} (rc {inside.returncode}):\n{inside.stdout}{inside.stderr}"
            f"--- from {jump} (rc {outside.returncode}):\n{outside.stdout}{outside.stderr}")


def test_unlisted_container_is_kept_unless_pruned(incus_site):
    image = instances()["aitbc"]["config"]["image.description"]
    alias = "aitbc-sandbox-" + image.rsplit(" ", 1)[-1]
    subprocess.run(["incus", "init", alias, "aitbc-stray", "-c", f"{MANAGED_KEY}=managed"],
                   check=True, capture_output=True)
    kept = provision()
    assert kept.returncode == 0 and "aitbc-stray" in kept.stderr
    assert "aitbc-stray" in instances()
    pruned = provision("--prune")
    assert pruned.returncode == 0, pruned.stderr[-3000:]
    assert "aitbc-stray" not in instances()


def test_down_leaves_nothing(incus_site):
    down(progress=lambda _: None)
    assert subprocess.run(["pgrep", "-x", "incusd"], capture_output=True).returncode == 1
    assert not [line for line in Path("/proc/mounts").read_text().splitlines()
                if f" {STATE}/" in line]
    assert not [link for link in Path("/sys/class/net").iterdir() if link.name.startswith("veth")]
