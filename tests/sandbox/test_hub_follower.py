"""The payload's twin of upstream's hub and follower (examples/hub-follower/, the shapes of
examples/aitbc-2026-08 with the payload's apps) deployed on two Debian 13 machines laid out
alone, as the 2026-08 example would be.

After one deploy: both machines run trixie; every service with a health path answers it
through its host's nginx; the follower holds the hub's chain (block 0 the genesis file's, the
same blocks, its head catching up and going on) by its node and by its sync job, whose timer
has fired; the hub's gateway reads the shared chain directory (the genesis file and the WAL
database, opened read-only) and cannot write there; it imports the root package through its
import roots; its release's migration step ran before it went live; the pool hub reached
PostgreSQL and Redis; verify passes; a second deploy changes nothing. Runs near the end
(conftest.py): it reshapes the fleet, and brings the production sandbox back.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_helpers import (
    DeployRun,
    assert_noop,
    assert_verified,
    deploy,
    run_as_unit,
    unit_properties,
)

from aitbc_infra import PROJECT_ROOT, sandbox
from aitbc_infra.fleet import SOURCE_ENV, Fleet
from aitbc_infra.host_names import step_unit
from aitbc_infra.host_scripts import quoted
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run
from aitbc_infra.sandbox.ssh import current_plan

EXAMPLE = PROJECT_ROOT / "examples" / "hub-follower" / "inventory.py"
HUB, FOLLOWER = "hub", "follower"
HUB_URL = "http://hub.aitbc.bubuit.net"
CHAIN_DIR = "/var/lib/aitbc/data/ait-hub.aitbc.bubuit.net"
GENESIS = f"{CHAIN_DIR}/genesis.json"
RPC, NODE, JOB = "aitbc-blockchain-rpc", "aitbc-blockchain-node", "aitbc-blockchain-sync"
GATEWAY, POOL = "aitbc-api-gateway", "aitbc-pool-hub"
EXCHANGE_DB = "/opt/aitbc/data/data/exchange.db"
# (host, unit) -> the path a user opens for its health on the host's site, and the service its
# body names: every service with a health path (checked against the model below).
HEALTH = {
    (HUB, RPC): ("/rpc/head", "blockchain-node"),
    (HUB, GATEWAY): ("/api/health", "api-gateway"),
    (HUB, POOL): ("/pool/health", "pool-hub"),
    (FOLLOWER, RPC): ("/rpc/syncStatus", "blockchain-node"),
}


@dataclass
class Twin:
    inventory: Path  # the sandbox inventory standing in for the example
    run: DeployRun  # the deploy of the twin onto the bare machines
    fleet: Fleet
    tmp: Path


@pytest.fixture(scope="module")
def twin(deployed_inventory, tmp_path_factory) -> Iterator[Twin]:
    tmp = tmp_path_factory.mktemp("hub-follower")
    # The payload is the twin's source: no tree of upstream's, whatever the caller has set.
    saved = os.environ.pop(SOURCE_ENV, None)
    try:
        inventory = sandbox.ensure_up(progress=lambda _: None, inventory=EXAMPLE)
        run = deploy(inventory)
        yield Twin(inventory, run, load_fleet(inventory), tmp)
    finally:
        if saved is not None:
            os.environ[SOURCE_ENV] = saved
        # The production sandbox again: the two machines stop, the production four boot on
        # fresh disks and are deployed from scratch.
        sandbox.ensure_up(progress=lambda _: None)
        back = deploy(deployed_inventory)
        assert back.returncode == 0, back.output[-4000:]


def _root(node: str, command: str) -> str:
    return ssh_run(node, command, check=True, timeout=60).stdout.strip()


def _site_get(fleet: Fleet, node: str, path: str) -> tuple[int, dict]:
    """GET on the host's public site from the control machine (through its nginx), by the
    site's name at the host's wan address: the status and the JSON body."""
    (site,) = fleet.hosts[node].nginx_sites
    address = current_plan(sandbox.paths()).machine(node).ssh_address
    out = subprocess.run(["curl", "-s", "-m", "10", "--resolve",
                          f"{site.server_name}:80:{address}", "-w", "\n%{http_code}",
                          f"http://{site.server_name}{path}"],
                         capture_output=True, text=True, timeout=20).stdout
    body, _, status = out.rpartition("\n")
    try:
        return int(status or 0), json.loads(body)
    except ValueError:
        return int(status or 0), {"unparsed": body}


def _blocks(fleet: Fleet, node: str, start: int, end: int) -> list[dict]:
    status, body = _site_get(fleet, node, f"/rpc/blocks-range?start={start}&end={end}")
    assert status == 200, (node, body)
    return body["blocks"]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (last := predicate()) and time.monotonic() < deadline:
        time.sleep(1)
    assert last, f"{what}: not within {timeout} s"
    return last


def test_the_twin_deploys_on_two_debian_13_machines(twin):
    assert twin.run.returncode == 0, twin.run.output[-4000:]
    assert current_plan(sandbox.paths()).names == (HUB, FOLLOWER)
    for node in (HUB, FOLLOWER):
        release = _root(node, ". /etc/os-release; echo $VERSION_ID $VERSION_CODENAME").split()
        assert release == ["13", "trixie"], (node, release)


def test_every_service_answers_its_health_through_its_hosts_nginx(twin):
    assert twin.run.returncode == 0
    declared = {(node, svc.unit) for node, host in twin.fleet.hosts.items()
                for _, svc in host.services if svc.health}
    assert set(HEALTH) == declared
    for (node, unit), (path, service) in HEALTH.items():
        (site,) = twin.fleet.hosts[node].nginx_sites
        assert twin.fleet.answered_by(site.server_name, path) == (node, unit)
        status, body = _site_get(twin.fleet, node, path)
        assert (status, body.get("service")) == (200, service), (node, path, body)


def test_the_follower_holds_the_hubs_chain_and_keeps_up(twin):
    assert twin.run.returncode == 0
    # One genesis file on both hosts: block 0 of both chains is the one it gives.
    sums = {node: _root(node, f"sha256sum {GENESIS}").split()[0] for node in (HUB, FOLLOWER)}
    assert sums[HUB] == sums[FOLLOWER], sums
    genesis = json.loads(_root(HUB, f"cat {GENESIS}"))["block"]
    hub_head = _site_get(twin.fleet, HUB, "/rpc/head")[1]
    assert hub_head["height"] >= 1, hub_head

    def caught_up() -> dict | None:
        status, head = _site_get(twin.fleet, FOLLOWER, "/rpc/head")
        return head if status == 200 and head["height"] >= hub_head["height"] else None

    # Copied every 2 s (PERIODIC_SYNC_INTERVAL) through the hub's public /rpc/.
    ours = _wait(caught_up, 30, f"the follower at the hub's height {hub_head['height']}")
    copied = _blocks(twin.fleet, FOLLOWER, 0, ours["height"])
    assert copied == _blocks(twin.fleet, HUB, 0, ours["height"])
    assert (copied[0]["height"], copied[0]["hash"]) == (0, genesis["hash"])
    assert {b["proposer"] for b in copied[1:]} == {"hub"}  # the follower proposes nothing
    # It goes on following; its RPC reports the hub's head under DEFAULT_PEER_RPC_URL.
    _wait(lambda: _site_get(twin.fleet, FOLLOWER, "/rpc/head")[1]["height"] > ours["height"],
          20, "the follower's head to move on")
    peers = _site_get(twin.fleet, FOLLOWER, "/rpc/syncStatus")[1]["peers"]
    assert [(p["url"], p["error"]) for p in peers] == [(HUB_URL, None)], peers
    assert peers[0]["height"] >= hub_head["height"]


def test_the_sync_timer_has_fired_on_the_follower(twin):
    assert twin.run.returncode == 0
    timer = _root(FOLLOWER, f"systemctl show -p ActiveState -p UnitFileState {JOB}.timer")
    assert sorted(timer.splitlines()) == ["ActiveState=active", "UnitFileState=enabled"], timer

    def ran() -> dict | None:
        shown = unit_properties(FOLLOWER, JOB, "Result", "ExecMainExitTimestampMonotonic",
                                "ExecMainStatus")
        return shown if shown["ExecMainExitTimestampMonotonic"] not in ("", "0") \
            and shown["Result"] == "success" else None

    # Every 10 s, the first run 10 s after the deploy started the timer.
    shown = _wait(ran, 40, f"a successful run of {JOB}")
    assert shown["ExecMainStatus"] == "0", shown
    said = _root(FOLLOWER, f"journalctl -q -o cat -u {JOB}.service | grep '^sync: '")
    assert f" block(s) from {HUB_URL}, head " in said, said


def test_the_gateway_reads_the_shared_chain_directory_and_cannot_write_it(twin):
    assert twin.run.returncode == 0
    genesis = json.loads(_root(HUB, f"cat {GENESIS}"))["block"]
    # The database the chain app writes, opened read-only by the gateway's unit (WAL mode:
    # the writer's -shm and -wal files readable through the directory's group).
    status, view = _site_get(twin.fleet, HUB, "/api/chain")
    assert status == 200, view
    assert (view["chain_id"], view["genesis_hash"]) == ("ait-hub.aitbc.bubuit.net",
                                                        genesis["hash"])
    assert view["height"] >= 1, view
    # As the gateway's unit runs: it reads the directory and the genesis, writes nothing.
    assert json.loads(run_as_unit(HUB, GATEWAY, f"cat {GENESIS}"))["block"] == genesis
    assert "chain.db" in run_as_unit(HUB, GATEWAY, f"ls {CHAIN_DIR}").split()
    for attempt in (f"touch {CHAIN_DIR}/by-the-reader", f"echo x >> {CHAIN_DIR}/chain.db"):
        assert run_as_unit(HUB, GATEWAY, f"{attempt} 2>/dev/null && echo wrote "
                                         "|| echo refused") == "refused", attempt
    # The chain's own units write it.
    writes = unit_properties(HUB, NODE, "ReadWritePaths")["ReadWritePaths"].split()
    assert CHAIN_DIR in writes, writes


def test_the_gateway_imports_the_root_package_through_its_import_roots(twin):
    assert twin.run.returncode == 0
    app = next(a for a in twin.fleet.hosts[HUB].apps if a.name == "aitbc")
    status, body = _site_get(twin.fleet, HUB, "/api/imports")
    assert status == 200, body
    modules = body["modules"]
    assert modules["aitbc"] == f"{app.venv}/src/aitbc/__init__.py", modules
    assert modules["api_gateway"] == f"{app.venv}/src/apps/api-gateway/src/api_gateway/main.py"
    assert "/site-packages/aitbc_crypto/" in modules["aitbc_crypto"], modules


def test_the_migration_step_ran_before_its_release_went_live(twin):
    assert twin.run.returncode == 0
    app = next(a for a in twin.fleet.hosts[HUB].apps if a.name == "aitbc")
    release = _root(HUB, quoted("readlink", app.venv)).rsplit("/", 1)[-1]
    step = step_unit(GATEWAY, "migrate", release)
    said = _root(HUB, quoted("journalctl", "-q", "-o", "cat", "-u", step))
    assert "exchange schema: migration 1 applied" in said.splitlines(), said
    # Its schema version, read as root on the host.
    version = _root(HUB, quoted("python3", "-c", "import sqlite3, sys; print(sqlite3.connect("
                                "sys.argv[1]).execute('PRAGMA user_version').fetchone()[0])",
                                EXCHANGE_DB))
    assert version == "1"
    # The step ended before the gateway of that release started.
    ended = _root(HUB, quoted("journalctl", "-q", "-o", "json", "-n", "1", "-u", step))
    started = unit_properties(HUB, GATEWAY, "ExecMainStartTimestampMonotonic")
    assert int(json.loads(ended)["__MONOTONIC_TIMESTAMP"]) < \
        int(started["ExecMainStartTimestampMonotonic"]), (ended, started)


def test_the_pool_hub_reached_postgresql_and_redis(twin):
    assert twin.run.returncode == 0
    status, health = _site_get(twin.fleet, HUB, "/pool/health")
    assert status == 200, health
    assert (health["database"], health["role"], health["redis"]) == \
        ("aitbc_pool", "aitbc_pool", "PONG"), health
    # A write, read back through the app: a real round trip to its database.
    _root(HUB, "curl -sf -m 10 -X POST http://127.0.0.1:8210/v1/miners/twin-miner")
    listed = json.loads(_root(HUB, "curl -sf -m 10 http://127.0.0.1:8210/v1/miners"))
    assert "twin-miner" in listed["miners"], listed


def test_verify_passes_and_a_second_deploy_changes_nothing(twin):
    assert twin.run.returncode == 0
    assert_verified(twin.inventory, twin.tmp / "verify.xml",
                    f"{HUB}: shared directories as planned",
                    f"{FOLLOWER}: generated files apps read as planned",
                    f"{HUB}: postgresql roles and databases as planned",
                    f"{HUB}: {GATEWAY} health /health",
                    f"{HUB}: {RPC} head advances",
                    f"{FOLLOWER}: timer {JOB}.timer waits to start {JOB}",
                    f"{FOLLOWER}: job {JOB} loaded as aitbc-chain, hardened, last run ok")
    assert_noop(twin.inventory)
