"""Shared state on a real host: a directory the blockchain node writes and the coordinator reads,
a genesis file generated into it from a template, and the node's key from a secret, added to
aitbc.

As root on aitbc, each check runs a command the way a unit runs: a transient unit with the
user, groups, umask and sandboxing (`ProtectSystem=strict`, its `ReadWritePaths=`) the real
unit shows in `systemctl show`. The writer's unit writes the directory (the file it makes
takes the directory's group, readable by it), the reader's unit reads it and the genesis but
writes nothing there, and the wallet daemon's unit, which the data names nowhere, cannot even
list it; the key is the node's alone. The files have their owner, mode and content; the key's
value shows in no output of the deploy. verify passes, a second deploy changes nothing, and a
change of the genesis's values restarts exactly the units reading it, naming the file. At the
end the directory, its files and the group are removed by hand (a deploy manages what the
model declares, and they are not in the production data) and the site is deployed as it was.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_helpers import (
    DeployRun,
    assert_clean,
    assert_noop,
    assert_verified,
    deploy,
    request_loop,
    run_as_unit,
    unit_properties,
    variant_inventory,
)

from aitbc_infra.sandbox import ssh_run

NODE = "aitbc"
GROUP = "aitbc-chain-readers"
SHARED = "/var/lib/aitbc/chain"
GENESIS = f"{SHARED}/genesis.json"
KEY = f"{SHARED}/proposer.key"
KEY_SECRET = "PROPOSER_KEY"
SITE_VARIABLE = f"{KEY_SECRET}__AT1"  # aitbc is of site at1
WRITER, READER, OUTSIDER = "aitbc-blockchain-node-1", "coordinator-api", "aitbc-wallet-daemon"
# The units reading the genesis: the coordinator's and the node's (its schema step too).
READERS = {READER, "aitbc-blockchain-schema-1", WRITER, "aitbc-blockchain-rpc-1"}
ANCHOR = 'packages = ["nginx", "sqlite3"]\n'  # the first fact of group_data/aitbc_container.py
PROPOSERS = ["node-1", 'a "quoted" proposer']


def _shared_state(timestamp: int) -> str:
    """The facts added to aitbc's group data, as Python source."""
    facts = {
        "unix_groups": [{"name": GROUP}],
        "shared_dirs": [{"path": SHARED, "owner": "aitbc-chain", "group": GROUP, "mode": "2750",
                         "writers": ["blockchain-node"], "readers": ["coordinator-api"]}],
        "generated_files": [
            {"path": GENESIS, "group": GROUP, "mode": "0640", "template": "genesis.json.j2",
             "values": {"timestamp": timestamp, "proposers": PROPOSERS},
             "used_by": ["blockchain-node", "coordinator-api"]},
            {"path": KEY, "group": "aitbc-chain", "mode": "0640", "secret": KEY_SECRET,
             "used_by": ["blockchain-node"]},
        ],
    }
    return "".join(f"{name} = {value!r}\n" for name, value in facts.items())


def _variant(tmp: Path, timestamp: int) -> Path:
    tmp.mkdir()
    return variant_inventory(tmp, "aitbc_container", ANCHOR, ANCHOR + _shared_state(timestamp))


def _show(unit: str, *properties: str) -> dict[str, str]:
    return unit_properties(NODE, unit, *properties)


def as_unit(unit: str, script: str) -> str:
    return run_as_unit(NODE, unit, script)


def _root(command: str) -> str:
    return ssh_run(NODE, command, check=True).stdout.strip()


@dataclass
class WithSharedState:
    variant: Path
    run: DeployRun
    failed_routes: set[str]
    key_value: str
    tmp: Path


@pytest.fixture(scope="module")
def with_shared_state(deployed_inventory, tmp_path_factory) -> Iterator[WithSharedState]:
    tmp = tmp_path_factory.mktemp("shared")
    key_value = f"sandbox-key-{secrets.token_hex(16)}"
    os.environ[SITE_VARIABLE] = key_value  # the deploy and verify read it from here
    try:
        variant = _variant(tmp / "first", 1767225600)
        with request_loop("a shared directory and generated files added to aitbc") as traffic:
            run = deploy(variant)
        assert run.returncode == 0, run.output[-3000:]
        yield WithSharedState(variant, run, traffic.failed_routes(), key_value, tmp)
    finally:
        # Back to the production data first (units without the shared state), then what the
        # model no longer declares goes by hand.
        run = deploy(deployed_inventory)
        os.environ.pop(SITE_VARIABLE, None)
        assert run.returncode == 0, run.output[-3000:]
        ssh_run(NODE, f"rm -rf -- {SHARED}; groupdel {GROUP}", timeout=60)
        assert_clean(deployed_inventory)
        assert_noop(deployed_inventory)


def test_the_deploy_made_the_directory_the_files_and_restarted_the_readers(with_shared_state):
    s = with_shared_state
    owed = s.run.results.get("owed", {})
    assert set(owed) == {NODE}, owed
    lines = {line.split(":", 1)[0].removeprefix("restart "): line for line in owed[NODE]
             if line.startswith("restart ")}
    assert set(lines) >= READERS, owed[NODE]
    assert all(f"{GENESIS} added" in lines[unit] for unit in READERS), owed[NODE]
    assert OUTSIDER not in lines and not any(OUTSIDER in line for line in owed[NODE])
    assert s.failed_routes == set()  # the coordinator's candidate proved itself first
    assert s.key_value not in s.run.output

    assert _root(f"stat -c '%U:%G %a %F' {SHARED}") == f"aitbc-chain:{GROUP} 2750 directory"
    assert _root(f"stat -c '%U:%G %a' {GENESIS}") == f"root:{GROUP} 640"
    assert _root(f"stat -c '%U:%G %a' {KEY}") == "root:aitbc-chain 640"
    assert json.loads(_root(f"cat {GENESIS}")) == {
        "chain_id": "ait-devnet", "block_time_seconds": 2, "timestamp": 1767225600,
        "proposers": PROPOSERS}
    assert _root(f"cat {KEY}") == s.key_value
    assert _root(f"getent group {GROUP}").startswith(f"{GROUP}:")


def test_each_unit_gets_exactly_the_access_declared(with_shared_state):
    shown = {unit: _show(unit, "ReadWritePaths", "SupplementaryGroups", "UMask")
             for unit in (WRITER, READER, OUTSIDER)}
    assert shown[WRITER] == {"ReadWritePaths": f"/opt/blockchain-node/data {SHARED}",
                             "SupplementaryGroups": GROUP, "UMask": "0027"}
    assert shown[READER] == {"ReadWritePaths": "/opt/coordinator-api/data",
                             "SupplementaryGroups": GROUP, "UMask": "0077"}
    assert shown[OUTSIDER] == {"ReadWritePaths": "/opt/wallet-daemon/data",
                               "SupplementaryGroups": "", "UMask": "0077"}

    made = f"{SHARED}/written-by-the-writer"
    try:
        # The writer writes; what it makes takes the directory's group (setgid), group-readable.
        assert as_unit(WRITER, f"echo block > {made} && echo wrote") == "wrote"
        assert _root(f"stat -c '%U:%G %a' {made}") == f"aitbc-chain:{GROUP} 640"
        assert as_unit(WRITER, f"cat {KEY}") == with_shared_state.key_value
        # The reader reads the directory, the writer's file and the genesis; it writes nothing
        # there (ProtectSystem=strict: no ReadWritePaths of it), and the key is not its own.
        assert as_unit(READER, f"cat {made}") == "block"
        assert json.loads(as_unit(READER, f"cat {GENESIS}"))["proposers"] == PROPOSERS
        assert as_unit(READER, f"touch {SHARED}/by-the-reader 2>/dev/null && echo wrote "
                               "|| echo refused") == "refused"
        assert as_unit(READER, f"echo x >> {made} 2>/dev/null && echo wrote "
                               "|| echo refused") == "refused"
        assert as_unit(READER, f"cat {KEY} >/dev/null 2>&1 && echo read || echo refused") \
            == "refused"
        # The unit named nowhere cannot even list it.
        for path in (SHARED, GENESIS, made):
            assert as_unit(OUTSIDER, f"ls {path} >/dev/null 2>&1 && echo read || echo refused") \
                == "refused", path
        assert _root(f"ls {SHARED}") == "\n".join(sorted(
            ["genesis.json", "proposer.key", "written-by-the-writer"]))
    finally:
        ssh_run(NODE, f"rm -f -- {made} {SHARED}/by-the-reader")


def test_verify_passes_and_a_second_deploy_changes_nothing(with_shared_state):
    s = with_shared_state
    assert_verified(s.variant, s.tmp / "verify.xml", f"{NODE}: group {GROUP}",
                    f"{NODE}: shared directories as planned",
                    f"{NODE}: generated files apps read as planned",
                    f"{NODE}: {WRITER} writes /opt/blockchain-node/data {SHARED}",
                    f"{NODE}: unit {READER} runs its files on disk")
    assert_noop(s.variant)  # nothing written, nothing restarted


def test_a_changed_genesis_restarts_exactly_its_readers(with_shared_state, tmp_path):
    # From the first variant (with_shared_state), only the genesis's timestamp changes.
    units = sorted({*READERS, OUTSIDER})
    before = {u: _show(u, "ExecMainStartTimestamp")["ExecMainStartTimestamp"] for u in units}
    changed = _variant(tmp_path / "later", 1767225601)
    with request_loop("a generated file changed on aitbc") as traffic:
        run = deploy(changed)
    assert run.returncode == 0, run.output[-3000:]
    assert sorted(run.results.get("owed", {}).get(NODE, [])) == sorted(
        f"restart {unit}: {GENESIS} changed" for unit in READERS)
    assert traffic.failed_routes() == set()
    after = {u: _show(u, "ExecMainStartTimestamp")["ExecMainStartTimestamp"] for u in units}
    assert {u for u in units if after[u] != before[u]} == READERS
    assert json.loads(_root(f"cat {GENESIS}"))["timestamp"] == 1767225601
    assert_noop(changed)  # the module's fixture then takes the site back to the production data
