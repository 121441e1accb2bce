"""Each host's deploy history against the sandbox: three deploys with a message each (a no-op, an
env change, back), then `aitbc-infra history` lists them on every host with their commits,
messages and what each changed; a --dry run leaves no line; and a deploy that finds a host's lock
held names its holder, the holder's message and since when, and leaves no line there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from deploy_helpers import deploy, variant_inventory

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.history import Run, holder, source_commit, sources_commit
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox.ssh import ssh_argv
from aitbc_infra.sources import source_root
from deploys.lock import lock_command

CLI = [sys.executable, "-m", "aitbc_infra"]
OPERATOR = "history-test@ci"
WALLET = "aitbc-wallet-daemon"
# One env change, as test_machine_output.py's: the wallet daemon's env file, one restart.
ENV_CHANGE = ("aitbc_container", '"env": {"LEDGER_DB_PATH": ',
              '"env": {"WALLET_NAME": "sandbox", "LEDGER_DB_PATH": ')
RESTART = {"unit": WALLET, "app": "wallet-daemon", "action": "restart",
           "reasons": [f"/etc/aitbc/{WALLET}.env changed"]}
NOTHING = {"releases": {}, "restarts": [], "reloads": [], "loads": [], "steps": [],
           "certificates": [], "databases": [], "operations": 0}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "AITBC_OPERATOR": OPERATOR})


def _history(inventory, *args: str) -> dict:
    read = _cli("history", "--inventory", str(inventory), "--json", *args)
    assert read.returncode == 0, read.stdout[-2000:] + read.stderr[-3000:]
    doc = json.loads(read.stdout)
    assert problems(doc, load("history")) == []
    assert doc["unreadable"] == {}
    return doc


def test_history_lists_each_run_with_its_commit_message_and_changes(deployed_inventory, tmp_path):
    assert deploy(deployed_inventory).returncode == 0  # converged, whatever ran before
    tag = f"h{time.time_ns() % 10**8}"
    variant = variant_inventory(tmp_path, *ENV_CHANGE)
    # Quotes, a backslash and letters beyond ASCII travel as they are.
    runs = [("no-op", deployed_inventory), ('env "change" \\ ü', variant), ("back", deployed_inventory)]
    for what, inventory in runs:
        done = _cli("deploy", "--inventory", str(inventory), "--message", f"{tag} {what}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    dry = _cli("deploy", "--inventory", str(deployed_inventory), "--dry", "-m", f"{tag} dry")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]

    fleet = load_fleet(deployed_inventory)
    doc = _history(deployed_inventory)
    ours = [e for e in doc["entries"] if (e["message"] or "").startswith(tag)]
    project = source_commit(PROJECT_ROOT)
    for node, spec in fleet.hosts.items():
        entries = [e for e in ours if e["host"] == node]
        # One line per run that was not --dry, oldest first.
        assert [e["message"] for e in entries] == [f"{tag} {what}" for what, _ in runs], node
        assert [e["result"] for e in entries] == ["ok"] * 3, entries
        assert {e["operator"] for e in entries} == {OPERATOR}
        assert {(e["commits"]["project"], e["commits"]["sources"]) for e in entries} == {
            (project, sources_commit(source_root(spec), PROJECT_ROOT))}
        assert entries[0]["time"] <= entries[1]["time"] <= entries[2]["time"]
        assert entries[0]["changes"] == NOTHING, node  # the no-op
        if node != "aitbc":  # the env change is the container's alone
            assert [e["changes"] for e in entries] == [NOTHING] * 3, node
    aitbc = [e for e in ours if e["host"] == "aitbc"]
    for changed in (aitbc[1]["changes"], aitbc[2]["changes"]):  # the change, and back
        assert changed["restarts"] == [RESTART]
        assert (changed["releases"], changed["reloads"], changed["certificates"]) == ({}, [], [])
        assert changed["operations"] > 0

    # The same as a table: the container's three runs, what changed, ok.
    table = _cli("history", "--inventory", str(deployed_inventory), "--host", "aitbc",
                 "--limit", "3")
    assert table.returncode == 0, table.stderr[-3000:]
    rows = [line for line in table.stdout.splitlines() if tag in line]
    assert len(rows) == 3, table.stdout
    assert "nothing changed" in rows[0] and rows[0].endswith(" ok")
    assert f"restart {WALLET}" in rows[1] and rows[1].endswith(" ok")
    assert all(OPERATOR in row and project in row for row in rows)


def test_a_held_lock_names_its_holder_message_and_since_when(deployed_inventory):
    tag = f"h{time.time_ns() % 10**8}"
    other = Run("ops@elsewhere", "rotating the wallet key", Run.now(None).started, 4242)
    held = subprocess.Popen(ssh_argv("at1", lock_command(holder(other))), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == "locked"
        refused = _cli("deploy", "--inventory", str(deployed_inventory), "-m", f"{tag} must wait")
    finally:
        held.stdin.close()
        held.wait(timeout=10)
    said = f'ops@elsewhere (pid 4242, since {other.time}): "rotating the wallet key"'
    assert refused.returncode == 1, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert f"FAILED   {'at1':<12} the deploy lock is held by {said}" in refused.stdout
    assert f"Deploy lock on at1: held by {said}" in refused.stderr  # the failing operation
    # The refused host keeps no line of the run; the others do.
    ours = [e for e in _history(deployed_inventory)["entries"] if e["message"] == f"{tag} must wait"]
    assert sorted(e["host"] for e in ours) == sorted(set(load_fleet(deployed_inventory).hosts) - {"at1"})
    assert deploy(deployed_inventory).returncode == 0
