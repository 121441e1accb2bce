"""examples/aitbc-2026-08: upstream AITBC c27c654 as a hub and a follower, by data alone.

The real tree is not here (CI has no copy of it): these tests hold the example's data, the
model built from it and its render to what the example promises, with no AITBC_SRC (render
reads no source), and the releases' walk to a skeleton of the tree's layout made here: the
paths the data names plus upstream's files a release must leave out (its absolute symlinks,
the ZK artefacts, docs and tests), empty files, no code of upstream's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from unit_helpers import rendered_by_path, unit_lines, without_source_tree
from unit_helpers import unit_env as env

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.fleet import SOURCE_ENV
from aitbc_infra.key_pairs import address_of, checksummed
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox.plan import plan_for
from aitbc_infra.sandbox.secrets_file import write_sandbox_secrets
from aitbc_infra.secrets import check_secrets, needed, read_secrets_file
from aitbc_infra.sources import check_sources, source_root, tree_skips
from aitbc_infra.wheelhouse import source_files

EXAMPLE = PROJECT_ROOT / "examples" / "aitbc-2026-08" / "inventory.py"
HUB_SITE = "hub.aitbc.bubuit.net"
CHAIN = "aitbc-blockchain-rpc"


@pytest.fixture(scope="module")
def example():
    with without_source_tree():
        yield load_fleet(EXAMPLE)


@pytest.fixture(scope="module")
def rendered(example):
    return rendered_by_path(example)


def app(example, node: str, name: str):
    return next(a for a in example.hosts[node].apps if a.name == name)


def test_a_hub_and_a_follower_each_a_debian_13_host_building_for_python_3_13_5(example):
    assert list(example.hosts) == ["hub", "follower"]
    for host in example.hosts.values():
        assert (host.debian, host.python.version) == (13, "3.13.5"), host.node
        assert host.public_address is not None and host.container is None, host.node
        # Upstream's requirements.txt names its library as file:///opt/aitbc/packages/...
        assert host.editable_root == "/opt/aitbc"
        # Upstream's code reads /etc/aitbc itself: the env files are elsewhere, so that a
        # directory it may not enter does not stop it (pathlib raises there on 3.13).
        assert host.env_dir != "/etc/aitbc" and not host.env_dir.startswith("/etc/aitbc/")
    assert {n: h.role for n, h in example.hosts.items()} == {"hub": "hub", "follower": "follower"}


def test_each_node_runs_in_the_mode_of_its_role(example, rendered):
    for unit in ("aitbc-blockchain-node", CHAIN):
        assert env(rendered, "hub", unit)["BLOCKCHAIN_MODE"] == "hub", unit
    for unit in ("aitbc-blockchain-node", CHAIN, "aitbc-blockchain-sync"):
        assert env(rendered, "follower", unit)["BLOCKCHAIN_MODE"] == "follower", unit
    units = {n: {s.unit for _, s in h.services} for n, h in example.hosts.items()}
    hub_only = {"aitbc-blockchain-p2p", "aitbc-coordinator-api", "aitbc-api-gateway",
                "aitbc-exchange", "aitbc-marketplace", "aitbc-blockchain-event-bridge",
                "aitbc-agent-coordinator"}
    base = {"aitbc-blockchain-schema", "aitbc-blockchain-node", CHAIN,
            "aitbc-blockchain-explorer", "aitbc-wallet", "aitbc-trading", "aitbc-governance",
            "aitbc-monitoring"}
    assert units["hub"] == base | hub_only
    assert units["follower"] == base | {"aitbc-blockchain-sync"}


def test_ports_are_upstreams_and_unique_on_each_host(example):
    ports = {n: [s.port for _, s in h.services if s.port] for n, h in example.hosts.items()}
    for node, listed in ports.items():
        assert len(listed) == len(set(listed)), node
    assert sorted(ports["follower"]) == [8002, 8100, 8104, 8105, 8108, 8202]
    assert sorted(ports["hub"]) == [7070, 8002, 8100, 8102, 8104, 8105, 8106, 8107, 8108, 8201,
                                    8202, 8203, 8205]
    # nginx is what the wan reaches: every service listens on loopback.
    assert {s.bind for h in example.hosts.values() for _, s in h.services} == {"loopback"}


def test_the_follower_syncs_from_the_hubs_public_rpc(example, rendered):
    peer = env(rendered, "follower", "aitbc-blockchain-node")["DEFAULT_PEER_RPC_URL"]
    assert peer == f"http://{HUB_SITE}"
    # The node appends /rpc/...: the hub's site must lead that to its chain's RPC.
    assert example.public_host(HUB_SITE).node == "hub"
    assert example.answered_by(HUB_SITE, "/rpc/head") == ("hub", CHAIN)
    assert example.answered_by(HUB_SITE, "/rpc/subscribe/ws") == ("hub", CHAIN)
    # The bulk catch-up job names the same source; the hub follows nobody.
    assert env(rendered, "follower", "aitbc-blockchain-sync")["AITBC_SYNC_SOURCE"] == peer
    assert env(rendered, "hub", CHAIN)["DEFAULT_PEER_RPC_URL"] == ""


def test_the_sync_job_runs_every_five_minutes_into_the_followers_own_rpc(example, rendered):
    job = next(s for _, s in example.hosts["follower"].services if s.unit == "aitbc-blockchain-sync")
    assert job.schedule.every_seconds == 300
    timer = rendered["follower"]["/etc/systemd/system/aitbc-blockchain-sync.timer"].content
    assert "OnUnitActiveSec=300s" in timer
    start = next(line for line in unit_lines(rendered, "follower", "aitbc-blockchain-sync")
                 if line.startswith("ExecStart="))
    assert start.endswith("-m aitbc_chain.sync_cli --import-url http://127.0.0.1:8202")


def test_only_the_hub_proposes_and_only_it_holds_the_proposer_key(rendered, example):
    # The hub's node proposes (upstream's default: production on) for the chain it names;
    # its RPC does not, as upstream's hub RPC unit sets it.
    node = env(rendered, "hub", "aitbc-blockchain-node")
    assert "ENABLE_BLOCK_PRODUCTION" not in node
    assert node["BLOCK_PRODUCTION_CHAINS"] == example.hosts["hub"].chain.chain_id
    assert env(rendered, "hub", CHAIN)["ENABLE_BLOCK_PRODUCTION"] == "false"
    for unit in ("aitbc-blockchain-node", CHAIN):
        hub = env(rendered, "hub", unit)
        assert {hub["PROPOSER_KEY"], hub["PROPOSER_ID"]} == {"<redacted:PROPOSER_KEY>",
                                                             "<redacted:PROPOSER_ID>"}, unit
    # Its processes share gossip and leases through the hub's Redis, on loopback.
    assert env(rendered, "hub", "aitbc-blockchain-node")["GOSSIP_BACKEND"] == "broadcast"
    assert env(rendered, "hub", "aitbc-blockchain-node")["GOSSIP_BROADCAST_URL"].startswith(
        "redis://127.0.0.1:")
    for unit in ("aitbc-blockchain-node", CHAIN, "aitbc-blockchain-sync"):
        follower = env(rendered, "follower", unit)
        assert follower["ENABLE_BLOCK_PRODUCTION"] == "false", unit
        assert "PROPOSER_KEY" not in follower and "PROPOSER_ID" not in follower, unit


def test_the_genesis_file_is_upstreams_block_0_and_the_same_on_both_hosts(example, rendered):
    chain_id = example.hosts["hub"].chain.chain_id
    path = f"/var/lib/aitbc/data/{chain_id}/genesis.json"
    hub, follower = rendered["hub"][path], rendered["follower"][path]
    assert hub.content == follower.content
    assert (hub.owner, hub.group, hub.mode) == ("root", "aitbc-chain-readers", "0640")
    genesis = json.loads(hub.content)
    block = genesis["block"]
    assert genesis["chain_id"] == block["chain_id"] == chain_id
    assert (block["height"], block["parent_hash"], block["proposer"]) == (0, "0x00", "genesis")
    # upstream's rule (scripts/ops/create-genesis-block.py): the values agree with each other
    rule = f"{chain_id}|0|0x00|{block['timestamp']}|".encode()
    assert block["hash"] == "0x" + hashlib.sha256(rule).hexdigest()
    assert block["state_root"] == "0x" + "00" * 32
    # A new genesis restarts the chain's units that read it, not the job (its next run reads it).
    readers = {a.unit for a in hub.activation.units}
    assert readers == {"aitbc-blockchain-schema", "aitbc-blockchain-node", CHAIN,
                       "aitbc-blockchain-p2p"}


def test_the_chain_writes_its_directory_and_the_services_only_read_it(example, rendered):
    chain_dir = f"/var/lib/aitbc/data/{example.hosts['hub'].chain.chain_id}"
    for node, host in example.hosts.items():
        for owner, svc in host.services:
            lines = unit_lines(rendered, node, svc.unit)
            writes = next((line for line in lines if line.startswith("ReadWritePaths=")), "")
            assert "SupplementaryGroups=aitbc-chain-readers" in lines, svc.unit
            assert (chain_dir in writes.split("=", 1)[-1].split()) == (owner.name == "blockchain-node"), \
                svc.unit


def test_the_units_import_through_the_release_as_upstreams_pythonpath(example, rendered):
    chain = app(example, "follower", "blockchain-node")
    assert env(rendered, "follower", "aitbc-blockchain-node")["PYTHONPATH"].split(":") == [
        chain.release_path("."), chain.release_path("apps/blockchain-node/src")]
    services = app(example, "hub", "aitbc")
    path = env(rendered, "hub", "aitbc-coordinator-api")["PYTHONPATH"].split(":")
    assert path[0] == services.release_path(".")  # the root package `aitbc`
    assert services.release_path("apps/coordinator-api/src") in path
    assert services.release_path("packages/py/aitbc-agent-core/src") in path
    for host in example.hosts.values():
        assert {a.requirement_files[0] for a in host.apps} == {"requirements.txt"}


def test_each_site_needs_its_own_secrets_but_the_islands_coordinator_key(example, tmp_path):
    wanted = {}
    for site, name in needed(example):
        wanted.setdefault(site, set()).add(name)
    assert wanted == {
        "hub": {"PROPOSER_KEY", "PROPOSER_ID", "JWT_SECRET", "SECRET_KEY", "COORDINATOR_API_KEY",
                "API_GATEWAY_KEY", "TRADING_API_KEY"},
        "follower": {"COORDINATOR_API_KEY", "TRADING_API_KEY"},
    }
    # The sandbox makes one COORDINATOR_API_KEY for both sites, every other value per site.
    secrets = tmp_path / "secrets.env"
    write_sandbox_secrets(secrets, example)
    given = {(s.site, s.name) for s in read_secrets_file(secrets)}
    assert (None, "COORDINATOR_API_KEY") in given
    assert ("hub", "COORDINATOR_API_KEY") not in given
    assert {("hub", "TRADING_API_KEY"), ("follower", "TRADING_API_KEY")} <= given


def test_the_proposers_key_pair_is_generated_matching_and_checked(example, tmp_path):
    assert [(site, pair.key, pair.address, pair.kind) for site, pair in example.key_pairs()] == [
        ("hub", "PROPOSER_KEY", "PROPOSER_ID", "secp256k1-ethereum")]
    secrets = tmp_path / "secrets.env"
    write_sandbox_secrets(secrets, example)
    given = {(s.site, s.name): s.value for s in read_secrets_file(secrets)}
    key, address = given["hub", "PROPOSER_KEY"], given["hub", "PROPOSER_ID"]
    # What upstream's proposer_identity.address_of computes: the key's EIP-55 address.
    assert address == checksummed(address_of(int(key, 16)))
    # In production a pair of another key is refused before any connection.
    environ = {"PROPOSER_KEY__HUB": key, "PROPOSER_ID__HUB": "0x" + "00" * 20}
    result = check_secrets(example, environ=environ)
    assert not result.ok and result.detail.startswith(
        "PROPOSER_KEY and PROPOSER_ID for site hub (environment PROPOSER_KEY__HUB; environment "
        "PROPOSER_ID__HUB): not a secp256k1-ethereum key pair: the key does not derive")
    assert key not in result.detail


def test_the_sandbox_lays_out_two_debian_13_machines_on_its_wan(example):
    plan = plan_for(example)
    assert plan.names == ("hub", "follower")
    for machine in plan.machines:
        assert (machine.debian, machine.proxy_jump, len(machine.links)) == (13, None, 1)
    # The follower resolves the hub's site to the hub's wan address.
    assert (plan.machine("hub").ssh_address, HUB_SITE) in plan.hosts_entries


# The skeleton: each directory the data names holds a file, as the tree's do; the files the
# releases must leave out are where upstream has them.
UPSTREAM_HAZARDS = {
    "health-check.sh": "/opt/aitbc/scripts/monitoring/health_check.sh",
    "scripts/aitbc-miner": "/opt/aitbc/apps/miner/production_miner.py",
    "website/favicon.svg": "/opt/aitbc/website/AITBC.svg",
}
LEFT_OUT = [
    "apps/coordinator-api/src/coordinator_api/contexts/zk_applications/zk-circuits/pot12_final.ptau",
    "apps/zk-circuits/receipt_simple_0001.zkey", "docs/README.md", "tests/test_chain.py",
    "apps/wallet/tests/test_wallet.py", "apps/gpu/src/gpu_service/main.py",
    "scripts/deployment/setup.sh",
]


def marker(directory: str) -> str:
    """The skeleton's file in a directory of the tree ("." its root)."""
    return "marker.py" if directory == "." else f"{directory}/marker.py"


@pytest.fixture
def skeleton(tmp_path, monkeypatch, example) -> Path:
    root = tmp_path / "aitbc"
    files = ["aitbc/__init__.py", "website/index.html", *LEFT_OUT,
             "packages/aitbc-shared/aitbc_shared/__init__.py"]
    for host in example.hosts.values():
        for a in host.apps:
            files += [marker(r) for r in a.import_roots]
            files += [marker(s.workdir) for s in a.services
                      if s.workdir and s.workdir not in a.data_dirs]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (root / "packages/aitbc-shared/pyproject.toml").write_text(
        '[project]\nname = "aitbc-shared"\nversion = "0.1.0"\nrequires-python = ">=3.13"\n')
    holds = '; python_full_version >= "3.13.5" and python_version < "3.15"'
    (root / "requirements.txt").write_text(
        f"-e file:///opt/aitbc/packages/aitbc-shared {holds}\nfastapi==0.136.3 {holds}\n")
    for link, target in UPSTREAM_HAZARDS.items():
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
    monkeypatch.setenv(SOURCE_ENV, str(root))
    return root


def test_the_releases_leave_out_what_no_service_runs(skeleton):
    fleet = load_fleet(EXAMPLE)
    # Every path named is carried, the editable line is read through /opt/aitbc, upstream's
    # absolute symlinks are left out (a release would refuse them), and 3.13.5 meets the
    # library's requires-python.
    assert check_sources(fleet) == []
    for host in fleet.hosts.values():
        for a in host.apps:
            carried = {f.name for f in source_files(source_root(host), source_root(host),
                                                     tree_skips(a))}
            assert not carried & {*LEFT_OUT, *UPSTREAM_HAZARDS}, (host.node, a.name)
            assert {marker(r) for r in a.import_roots} <= carried, (host.node, a.name)
            assert "requirements.txt" in carried and "aitbc/__init__.py" in carried
