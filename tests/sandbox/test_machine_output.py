"""What CI reads of `aitbc-infra` against real hosts: `deploy --dry` exits 0 when nothing would
change and 3 when something would, naming it; `deploy --json` and `verify --json` print one
document on stdout, each holding to its schema in schemas/."""

from __future__ import annotations

import json
import subprocess
import sys

from deploy_helpers import deploy, host_state, variant_inventory

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.json_schema import load, problems

CLI = [sys.executable, "-m", "aitbc_infra"]
WALLET = "aitbc-wallet-daemon"
WALLET_ENV = f"/etc/aitbc/{WALLET}.env"
# One env change, as test_deploy.py's "env" case: the wallet daemon's env file, one restart.
ENV_CHANGE = ("aitbc_container", '"env": {"LEDGER_DB_PATH": ',
              '"env": {"WALLET_NAME": "sandbox", "LEDGER_DB_PATH": ')
RESTART = {"unit": WALLET, "app": "wallet-daemon", "action": "restart",
           "reasons": [f"{WALLET_ENV} changed"]}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=900)


def _document(proc: subprocess.CompletedProcess, schema: str) -> dict:
    """The whole of stdout as one JSON document, held to schemas/SCHEMA.json."""
    try:
        doc = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"stdout is not one JSON document ({exc}): {proc.stdout[:2000]!r}\n"
                             f"stderr: {proc.stderr[-3000:]}") from None
    found = problems(doc, load(schema))
    assert found == [], "\n".join(found)
    return doc


def _by_node(doc: dict) -> dict[str, dict]:
    return {host["node"]: host for host in doc["hosts"].values()}


def test_dry_run_exit_status_and_json_documents(deployed_inventory, tmp_path):
    # Converged, whatever ran before in this session: then a dry run finds nothing to do.
    run = deploy(deployed_inventory)
    assert run.returncode == 0, run.output[-3000:]
    dry = _cli("deploy", "--inventory", str(deployed_inventory), "--dry")
    assert dry.returncode == 0, dry.stdout + dry.stderr[-3000:]
    assert "--> Dry run: nothing would change on" in dry.stdout, dry.stdout

    variant = variant_inventory(tmp_path, *ENV_CHANGE)
    before = host_state(deployed_inventory)
    try:
        dry = _cli("deploy", "--inventory", str(variant), "--dry", "--json")
        assert dry.returncode == 3, dry.stdout[-3000:] + dry.stderr[-3000:]
        doc = _document(dry, "deploy")
        assert (doc["dry"], doc["result"], doc["exit_code"], doc["changes"]) == (True, "changes", 3, True)
        hosts = _by_node(doc)
        assert {node for node, host in hosts.items() if host["result"] == "changes"} == {"aitbc"}
        assert hosts["aitbc"]["decision"]["restarts"] == [RESTART]
        assert hosts["aitbc"]["decision"]["lines"] == [f"restart {WALLET}: {WALLET_ENV} changed"]
        assert all(op["status"] == "would_change" for op in hosts["aitbc"]["operations"])
        assert hosts["aitbc"]["changed"] == len(hosts["aitbc"]["operations"]) > 0
        assert host_state(deployed_inventory) == before  # a dry run changes nothing

        real = _cli("deploy", "--inventory", str(variant), "--json")
        assert real.returncode == 0, real.stdout[-3000:] + real.stderr[-3000:]
        doc = _document(real, "deploy")
        assert (doc["dry"], doc["result"], doc["exit_code"]) == (False, "converged", 0)
        hosts = _by_node(doc)
        assert hosts["aitbc"]["decision"]["restarts"] == [RESTART]
        assert {node for node, host in hosts.items() if host["changed"]} == {"aitbc"}
        assert all(host["failure"] is None for host in hosts.values())
        after = host_state(variant)
        assert after["aitbc"]["units"][WALLET] != before["aitbc"]["units"][WALLET]  # it restarted
    finally:
        assert deploy(deployed_inventory).returncode == 0

    verified = _cli("verify", "--inventory", str(deployed_inventory), "--json")
    doc = _document(verified, "verify")
    failed = [f"{c['check']}: {c['message']}" for c in doc["checks"] if c["outcome"] == "failed"]
    assert (verified.returncode, doc["exit_code"], doc["result"]) == (0, 0, "passed"), failed
    assert doc["totals"]["checks"] == doc["totals"]["passed"] > 0
    assert set(doc["hosts"]) >= {"at1", "aitbc", "ns3-root", "ns3-aitbc"}
