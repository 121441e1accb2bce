"""examples/hub-follower: the payload's twin of examples/aitbc-2026-08, deployable by CI.

With no AITBC_SRC the payload is the source: `check` passes on the example as it is, and the
model, its render and its releases hold what the twin promises (tests/sandbox/
test_hub_follower.py deploys it): the 2026-08 example's hosts, sites, chain directory, genesis
file, unit names and ports; the payload's apps on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from unit_helpers import rendered_by_path, unit_lines, without_source_tree
from unit_helpers import unit_env as env

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import SOURCE_ENV
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox.plan import plan_for
from aitbc_infra.secrets import needed
from aitbc_infra.sources import check_sources, source_root, tree_skips
from aitbc_infra.wheelhouse import source_files

EXAMPLE = PROJECT_ROOT / "examples" / "hub-follower" / "inventory.py"
UPSTREAM = PROJECT_ROOT / "examples" / "aitbc-2026-08" / "inventory.py"
HUB_SITE = "hub.aitbc.bubuit.net"
RPC = "aitbc-blockchain-rpc"
CHAIN_DIR = "/var/lib/aitbc/data/ait-hub.aitbc.bubuit.net"
GENESIS = f"{CHAIN_DIR}/genesis.json"


@pytest.fixture(scope="module")
def no_tree():
    """Neither example reads a tree of upstream's here: the payload is the twin's source."""
    with without_source_tree():
        yield


@pytest.fixture(scope="module")
def example(no_tree):
    return load_fleet(EXAMPLE)


@pytest.fixture(scope="module")
def rendered(example):
    return rendered_by_path(example)


def test_check_passes_with_the_payload_as_the_source(no_tree):
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check", "--inventory",
                           str(EXAMPLE)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != SOURCE_ENV},
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model: 2 hosts validated; sources in payload\n" in proc.stdout, proc.stdout
    assert proc.stdout.rstrip().endswith("all checks passed"), proc.stdout


def test_the_2026_08_examples_hosts_sites_and_chain(example):
    upstream = load_fleet(UPSTREAM)
    assert list(example.hosts) == list(upstream.hosts) == ["hub", "follower"]
    for node, host in example.hosts.items():
        twin = upstream.hosts[node]
        assert (host.debian, host.python.version) == (13, "3.13.5"), node
        assert (host.public_address, host.env_dir, host.editable_root) == \
            (twin.public_address, twin.env_dir, twin.editable_root), node
        assert host.sites == twin.sites and host.chain.chain_id == twin.chain.chain_id
        assert host.firewall == twin.firewall, node
        assert source_root(host) == PROJECT_ROOT / "payload", node
    # The chain's units and ports are the example's.
    ports = {n: {s.unit: s.port for _, s in h.services} for n, h in example.hosts.items()}
    theirs = {n: {s.unit: s.port for _, s in h.services} for n, h in upstream.hosts.items()}
    for node in ports:
        chain = {u: p for u, p in ports[node].items() if u.startswith("aitbc-blockchain-")}
        assert chain.items() <= theirs[node].items() | {("aitbc-blockchain-node", None)}, node
    assert ports == {
        "hub": {"aitbc-blockchain-schema": None, "aitbc-blockchain-node": None, RPC: 8202,
                "aitbc-api-gateway": 8201, "aitbc-pool-hub": 8210},
        "follower": {"aitbc-blockchain-schema": None, "aitbc-blockchain-node": None, RPC: 8202,
                     "aitbc-blockchain-sync": None},
    }


def test_the_hub_proposes_from_the_genesis_file_and_the_follower_copies_it(example, rendered):
    for unit in ("aitbc-blockchain-node", RPC):
        assert env(rendered, "hub", unit)["BLOCKCHAIN_MODE"] == "hub", unit
        assert env(rendered, "hub", unit)["DEFAULT_PEER_RPC_URL"] == "", unit
    for unit in ("aitbc-blockchain-node", RPC, "aitbc-blockchain-sync"):
        follower = env(rendered, "follower", unit)
        assert follower["BLOCKCHAIN_MODE"] == "follower", unit
        # Upstream's names for the peer and the pull interval (the app's env_names).
        assert follower["DEFAULT_PEER_RPC_URL"] == f"http://{HUB_SITE}", unit
        assert follower["PERIODIC_SYNC_INTERVAL"] == "2", unit
        assert follower["DB_PATH"] == f"{CHAIN_DIR}/chain.db", unit
    assert example.answered_by(HUB_SITE, "/rpc/blocks-range") == ("hub", RPC)
    # The genesis file, the same on both hosts, is the 2026-08 example's.
    upstream = render_fleet(load_fleet(UPSTREAM))["hub"]
    theirs = next(f for f in upstream if f.path == GENESIS)
    assert rendered["hub"][GENESIS].content == rendered["follower"][GENESIS].content \
        == theirs.content
    assert json.loads(theirs.content)["chain_id"] == example.hosts["hub"].chain.chain_id


def test_the_sync_job_runs_on_a_timer_of_its_own(example, rendered):
    timer = rendered["follower"]["/etc/systemd/system/aitbc-blockchain-sync.timer"].content
    assert "OnUnitActiveSec=10s" in timer
    start = next(line for line in unit_lines(rendered, "follower", "aitbc-blockchain-sync")
                 if line.startswith("ExecStart="))
    assert start.endswith(" -m aitbc_chain.sync_cli"), start


def test_the_chain_writes_its_directory_and_the_gateway_only_reads_it(example, rendered):
    for node, host in example.hosts.items():
        (shared,) = host.shared_dirs
        assert (shared.path, shared.writers) == (CHAIN_DIR, ["blockchain-node"])
        assert shared.readers == (["aitbc"] if node == "hub" else [])
        for owner, svc in host.services:
            lines = unit_lines(rendered, node, svc.unit)
            writes = next((line for line in lines if line.startswith("ReadWritePaths=")), "")
            reads = owner.name in (*shared.writers, *shared.readers)
            assert ("SupplementaryGroups=aitbc-chain-readers" in lines) == reads, svc.unit
            assert (CHAIN_DIR in writes.split("=", 1)[-1].split()) == \
                (owner.name == "blockchain-node"), svc.unit
    assert env(rendered, "hub", "aitbc-api-gateway")["AITBC_CHAIN_DIR"] == CHAIN_DIR


def test_the_gateway_is_the_monorepo_shape_with_a_migration_before_each_release(example,
                                                                             rendered):
    services = next(a for a in example.hosts["hub"].apps if a.name == "aitbc")
    assert (services.trees, services.requirement_files) == (["."], ["requirements.txt"])
    assert services.import_roots == ["apps/api-gateway/src", "."]
    assert [(s.name, s.command, s.workdir) for s in services.steps] == [
        ("migrate", ["migrate.py"], "apps/trade-exchange")]
    assert "aitbc-api-gateway-step-migrate@.service" in {
        p.rsplit("/", 1)[-1] for p in rendered["hub"]}
    gateway = env(rendered, "hub", "aitbc-api-gateway")
    assert gateway["DATABASE_URL"] == "sqlite:////opt/aitbc/data/data/exchange.db"
    assert gateway["PYTHONPATH"].split(":") == [services.release_path("apps/api-gateway/src"),
                                                services.release_path(".")]
    pool = env(rendered, "hub", "aitbc-pool-hub")
    assert pool["DATABASE_URL"] == \
        "postgresql://aitbc_pool:<redacted:POOL_DB_PASSWORD>@127.0.0.1:5432/aitbc_pool"
    assert {(site, name) for site, name in needed(example)} == {("hub", "POOL_DB_PASSWORD")}


def test_the_releases_carry_what_their_services_run_and_nothing_else(example):
    assert check_sources(example) == []
    carried = {}
    for node, host in example.hosts.items():
        for a in host.apps:
            if a.trees:
                carried[node, a.name] = sorted(
                    f.name for f in source_files(source_root(host), source_root(host),
                                                 tree_skips(a)) if "__pycache__" not in f.name)
    chain = ["aitbc/__init__.py"] + [
        f"apps/blockchain-node/src/aitbc_chain/{name}.py" for name in sorted(
            ("__init__", "app", "config", "database", "follow", "genesis", "main", "metrics",
             "storage", "sync_cli"))]
    assert carried == {
        ("hub", "blockchain-node"): chain,
        ("hub", "aitbc"): ["aitbc/__init__.py", "apps/api-gateway/src/api_gateway/__init__.py",
                           "apps/api-gateway/src/api_gateway/main.py",
                           "apps/trade-exchange/database.py", "apps/trade-exchange/migrate.py"],
        ("follower", "blockchain-node"): chain,
    }


def test_the_sandbox_lays_out_the_2026_08_examples_machines(example):
    # The same two Debian 13 machines at the same wan addresses, each resolving both sites:
    # the follower's node reaches the hub by its public name, as it would there.
    plan = plan_for(example)
    assert plan == plan_for(load_fleet(UPSTREAM))
    assert [(m.name, m.debian, m.proxy_jump) for m in plan.machines] == [
        ("hub", 13, None), ("follower", 13, None)]
    assert (plan.machine("hub").ssh_address, HUB_SITE) in plan.hosts_entries
