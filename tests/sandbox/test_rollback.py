"""`aitbc-infra rollback` against the sandbox: a new coordinator-api release is deployed, then
rolled back to the previous one on both hosts running it, with the request loop running: in
under 10 s, not one failed request, nothing built (no release directory, wheelhouse or local
build touched); `status` shows it (text and --json) and `history` has its line. Then the
data's release comes back with a deploy that says why, and a --keep-rollbacks deploy leaves a
second rollback in place. A held lock fails the host it holds, naming its holder; a release
not kept is refused, naming host, app and release and listing what is kept, changing nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from deploy_helpers import assert_clean, changed_tree, deploy, request_loop
from traffic import REPORTS

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.history import Run, holder
from aitbc_infra.host_names import ROLLBACK_RECORD, WHEELHOUSE_REMOTE
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run
from aitbc_infra.sandbox.ssh import ssh_argv
from deploys.lock import lock_command

APP = "coordinator-api"
ROOT = "/opt/coordinator-api"
RECORD = f"{ROOT}/{ROLLBACK_RECORD}"
OPERATOR = "rollback-test@ci"
# A new release of the coordinator alone: one more line in its module.
NEW_RELEASE = ("payload/apps/coordinator-api/src/app/main.py", 'SERVICE = "coordinator-api"\n',
               'SERVICE = "coordinator-api"\n# a release to roll back from\n')
LOCAL_WHEELHOUSE = PROJECT_ROOT / "build" / "wheelhouse"


def _cli(*args: str, tree: Path = PROJECT_ROOT, timeout: float = 1200) -> subprocess.CompletedProcess:
    """The command line of the project at `tree` (another checkout: its code and data)."""
    env = {**os.environ, "AITBC_OPERATOR": OPERATOR, "PYTHONPATH": str(tree / "src")}
    return subprocess.run([sys.executable, "-m", "aitbc_infra", *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _said(done: subprocess.CompletedProcess) -> str:
    return done.stdout[-4000:] + done.stderr[-4000:]


def _nodes(inventory) -> list[str]:
    return sorted(n for n, h in load_fleet(inventory).hosts.items() if any(a.name == APP for a in h.apps))


def _live(node: str) -> str:
    return ssh_run(node, f"readlink {ROOT}/.venv", check=True).stdout.strip().removeprefix("releases/")


def _built(node: str) -> str:
    """What a build would change on a host: the release directories, the wheelhouse's files
    (each with its modification time)."""
    return ssh_run(node, f"ls -1 {ROOT}/releases; find {WHEELHOUSE_REMOTE} -printf '%p %T@\\n' "
                         "| sort", check=True).stdout


def _local_build() -> list[tuple[str, float]]:
    return sorted((str(p), p.stat().st_mtime) for p in LOCAL_WHEELHOUSE.rglob("*"))


def _has_record(node: str) -> bool:
    return ssh_run(node, f"test -e {RECORD}").returncode == 0


def _status(inventory) -> tuple[subprocess.CompletedProcess, dict]:
    table = _cli("status", "--inventory", str(inventory))
    read = _cli("status", "--inventory", str(inventory), "--json")
    doc = json.loads(read.stdout)
    assert problems(doc, load("status")) == []
    assert doc["exit_code"] == read.returncode == table.returncode
    return table, doc


def test_rollback_builds_nothing_costs_no_request_and_the_next_deploy_puts_the_data_back(
        deployed_inventory, tmp_path):
    inventory = str(deployed_inventory)
    nodes = _nodes(deployed_inventory)
    assert nodes == ["aitbc", "ns3-aitbc"]
    assert deploy(deployed_inventory).returncode == 0  # converged on the project's data
    previous = {n: _live(n) for n in nodes}
    tree = changed_tree(tmp_path, *NEW_RELEASE)
    run = deploy(deployed_inventory, tree)
    assert run.returncode == 0, run.output[-3000:]
    new = {n: _live(n) for n in nodes}
    assert all(new[n] != previous[n] for n in nodes), (previous, new)

    # A lock another deploy holds fails its host, naming the holder; nothing runs there.
    other = Run("ops@elsewhere", "rotating the wallet key", Run.now(None).started, 4242)
    held = subprocess.Popen(ssh_argv("aitbc", lock_command(holder(other))), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == "locked"
        refused = _cli("rollback", APP, "--inventory", inventory, "--host", "aitbc")
    finally:
        held.stdin.close()
        held.wait(timeout=10)
    assert refused.returncode == 1, _said(refused)
    said = f'ops@elsewhere (pid 4242, since {other.time}): "rotating the wallet key"'
    assert f"FAILED   {'aitbc':<12} the deploy lock is held by {said}" in refused.stdout
    assert _live("aitbc") == new["aitbc"]

    built = {n: _built(n) for n in nodes}
    local = _local_build()
    tag = f"r{time.time_ns() % 10**8} the new release drops orders"
    with request_loop("rollback of coordinator-api to its previous release") as traffic:
        started = time.monotonic()
        done = _cli("rollback", APP, "--inventory", inventory, "--message", tag)
        took = time.monotonic() - started
    assert done.returncode == 0, _said(done)
    assert {n: _live(n) for n in nodes} == previous
    assert took < 10, f"the rollback took {took:.1f} s"
    assert traffic.failed_routes() == set(), traffic.report()
    REPORTS.append(f"rollback of {APP} on {len(nodes)} hosts: {took:.1f} s, {traffic.sent} "
                   f"requests, 0 failed, slowest {traffic.slowest:.2f}s")
    # Nothing built: the same release directories and wheelhouse, here and on the hosts.
    assert {n: _built(n) for n in nodes} == built
    assert _local_build() == local
    for node in nodes:
        assert f"ok       {node:<12} {APP} {new[node]} -> {previous[node]}" in done.stdout
    assert "candidates healthy after" in done.stdout and "healthy after" in done.stdout

    # status shows it, in text and JSON: to what, by whom, when, and the data's release.
    table, doc = _status(deployed_inventory)
    assert table.returncode == 1
    for node in nodes:
        app = next(a for a in doc["hosts"][node]["apps"] if a["name"] == APP)
        assert app["live"] == previous[node]
        record = app["rollback"]
        assert (record["release"], record["from"], record["data"], record["operator"],
                record["message"]) == (previous[node], new[node], new[node], OPERATOR, tag)
        assert {(p["host"], p["what"]) for p in doc["problems"]} >= {(node, f"app {APP}")}
        assert (f"rolled back to {previous[node]} by {OPERATOR} at {record['time']}; "
                f"the data's release is {new[node]}") in table.stdout
        assert doc["hosts"][node]["last_deploy"]["kind"] == "rollback"
    # history has the line, on each host.
    read = _cli("history", "--inventory", inventory, "--json")
    assert read.returncode == 0, _said(read)
    history = json.loads(read.stdout)
    assert problems(history, load("history")) == []
    ours = [e for e in history["entries"] if e["message"] == tag]
    assert sorted(e["host"] for e in ours) == nodes
    for entry in ours:
        assert (entry["kind"], entry["result"], entry["operator"]) == ("rollback", "ok", OPERATOR)
        assert entry["changes"]["releases"] == {
            APP: {"before": new[entry["host"]], "after": previous[entry["host"]]}}
        assert [r["unit"] for r in entry["changes"]["restarts"]] == [APP]

    # The data's release again: a dry run reports the drift (exit 3), the deploy puts it back.
    dry = _cli("deploy", "--inventory", inventory, "--dry", tree=tree)
    assert dry.returncode == 3, _said(dry)
    for node in nodes:
        assert (f"{APP} on {node}: live release {previous[node]} was rolled back; putting the "
                f"data's release {new[node]} back") in dry.stdout + dry.stderr
    with request_loop("the data's coordinator-api release put back") as traffic:
        back = _cli("deploy", "--inventory", inventory, tree=tree)
    assert back.returncode == 0, _said(back)
    assert traffic.failed_routes() == set(), traffic.report()
    assert {n: _live(n) for n in nodes} == new
    assert not any(_has_record(n) for n in nodes)

    # Rolled back again, a deploy told to keep rollbacks leaves it and says so.
    again = _cli("rollback", APP, "--inventory", inventory)
    assert again.returncode == 0, _said(again)
    kept = _cli("deploy", "--inventory", inventory, "--keep-rollbacks", tree=tree)
    assert kept.returncode == 0, _said(kept)
    for node in nodes:
        assert (f"{APP} on {node}: live release {previous[node]} was rolled back; left on it "
                f"(--keep-rollbacks), the data's release is {new[node]}") in kept.stdout + kept.stderr
    assert {n: _live(n) for n in nodes} == previous
    assert all(_has_record(n) for n in nodes)

    # The project's own data, whose release is the one rolled back to: the record goes.
    home = deploy(deployed_inventory)
    assert home.returncode == 0, home.output[-3000:]
    assert {n: _live(n) for n in nodes} == previous
    assert not any(_has_record(n) for n in nodes)
    assert_clean(deployed_inventory)
    table, doc = _status(deployed_inventory)
    assert table.returncode == 0, table.stdout[-3000:] + table.stderr[-3000:]


def test_a_release_not_kept_is_refused_naming_it_and_what_is_kept(deployed_inventory):
    inventory = str(deployed_inventory)
    nodes = _nodes(deployed_inventory)
    live = {n: _live(n) for n in nodes}
    before = json.loads(_cli("history", "--inventory", inventory, "--json").stdout)["entries"]
    done = _cli("rollback", APP, "--inventory", inventory, "--to", "0123456789abcdef")
    assert done.returncode == 2, _said(done)
    assert done.stdout == ""
    for node in nodes:
        line = next(x for x in done.stderr.splitlines() if x.strip().startswith(f"{node}: {APP}:"))
        assert f"{node}: {APP}: release 0123456789abcdef is not kept; kept: " in line
        assert f"{live[node]} (live, activated " in line
    # Nothing changed anywhere: same releases live, no record, no history line.
    assert {n: _live(n) for n in nodes} == live
    assert not any(_has_record(n) for n in nodes)
    after = json.loads(_cli("history", "--inventory", inventory, "--json").stdout)["entries"]
    assert after == before
