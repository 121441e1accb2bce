"""Data kept safe across releases, on a real host: the exchange API's exchange.db on aitbc.

A release of the exchange API whose code reads a column the existing database lacks (it would
create that column on a fresh database, but the host's database was made by the release before
it) answers its health path and fails its data probe: as a candidate it never takes traffic, the
live release and the database stay as they were, no request fails. A good release snapshots the
database into the outgoing release before its cutover: the copy holds what the database held,
root's alone; restore-data.sh, with the API's units stopped, puts it back byte for byte after
saying which writes it drops, when `aitbc-infra rollback --restore-data` goes back to the
release the snapshot was kept with.
"""

from __future__ import annotations

import subprocess
import sys

from deploy_helpers import assert_clean, changed_tree, deploy, fetch, request_loop
from exchange_app import API, APP, DATABASE, NODE, PROBE, TREE, active_since

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import DATA_SNAPSHOT_DIR
from aitbc_infra.host_scripts import quoted
from aitbc_infra.loader import load_fleet
from aitbc_infra.sandbox import ssh_run

CLI = [sys.executable, "-m", "aitbc_infra"]

# Read on the host through SQLite (the python3 every host has): schema and rows, in order.
DUMP = ("import sqlite3, sys, urllib.parse; "
        "c = sqlite3.connect('file:' + urllib.parse.quote(sys.argv[1]) + '?mode=ro', uri=True); "
        "print(chr(10).join(c.iterdump()))")


def _root(inventory) -> str:
    app = next(a for a in load_fleet(inventory).hosts[NODE].apps if a.name == APP)
    assert app.data_path(app.data[0]) == DATABASE  # the data the test reads is the one declared
    return app.root


def _live(root: str) -> str:
    """The release the exchange app runs: RELEASES_DIR/ID as its .venv link says."""
    return ssh_run(NODE, quoted("readlink", f"{root}/.venv"), check=True).stdout.strip()


def _dump(path: str) -> str:
    return ssh_run(NODE, quoted("python3", "-c", DUMP, path), check=True).stdout


def test_a_release_that_cannot_read_the_existing_data_is_caught_by_its_probe(deployed_inventory,
                                                                            tmp_path):
    root = _root(deployed_inventory)
    # The new schema has a fee column, which CREATE TABLE IF NOT EXISTS never adds to the table
    # the previous release made; the recent trades now read it.
    tree = changed_tree(
        tmp_path, f"{TREE}/database.py", " total REAL NOT NULL,",
        " total REAL NOT NULL, fee REAL NOT NULL DEFAULT 0,",
        also=((f"{TREE}/database.py", "SELECT * FROM trades ORDER BY",
               "SELECT id, amount, price, total, fee, created_at FROM trades ORDER BY"),))
    release, started, data = _live(root), active_since(API), _dump(DATABASE)
    schema = next(line for line in data.splitlines() if line.startswith("CREATE TABLE trades"))
    assert "fee" not in schema  # the existing table, as the live release made it
    with request_loop("exchange API release that cannot read its data") as traffic:
        run = deploy(deployed_inventory, tree)
    assert run.returncode == 1
    assert run.results["failed_hosts"] == [NODE]
    assert f"{API} failed its data probe ({PROBE})" in run.output, run.output[-3000:]
    assert "as a candidate of release" in run.output and "it never took traffic" in run.output
    # Not one request saw it: the candidate was stopped before any cutover of the API, and the
    # trade exchange (same tree, a good release) went live with its socket held open.
    assert traffic.failed_routes() == set(), traffic.report()
    assert _live(root) == release and active_since(API) == started
    assert _dump(DATABASE) == data
    status, _, body = fetch(PROBE)
    assert status == 200 and '"service": "exchange-api"' in body
    assert_clean(deployed_inventory)
    run = deploy(deployed_inventory)  # back to the good tree (the trade exchange's release)
    assert run.returncode == 0, run.output[-3000:]


def test_a_snapshot_kept_with_the_outgoing_release_restores_byte_equal(deployed_inventory,
                                                                        tmp_path):
    root = _root(deployed_inventory)
    outgoing = _live(root)
    before = _dump(DATABASE)
    tree = changed_tree(tmp_path, f"{TREE}/simple_exchange_api.py", '"""Demo exchange API',
                        '"""(release 2) Demo exchange API')
    run = deploy(deployed_inventory, tree)
    try:
        assert run.returncode == 0, run.output[-3000:]
        assert _live(root) != outgoing
        kept = f"{root}/{outgoing}/{DATA_SNAPSHOT_DIR}"
        copy = f"{kept}/exchange.sqlite"
        # What the database held before the cutover, read back through SQLite. (SQLite's
        # backup writes its own change counter into the copy's header: the bytes of the copy
        # and of its source differ there, their content does not.)
        assert _dump(copy) == before
        modes = ssh_run(NODE, quoted("stat", "-c", "%U:%G %a", kept, copy), check=True).stdout
        assert modes.split("\n")[:2] == ["root:root 700", "root:root 600"]
        manifest = ssh_run(NODE, quoted("cat", f"{kept}/manifest"), check=True).stdout.split()
        assert manifest[:3] == ["exchange", "sqlite", DATABASE]

        # A write after the snapshot, which the restore drops.
        ssh_run(NODE, quoted("python3", "-c",
                             "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                             "c.execute('INSERT INTO trades (amount, price, total) "
                             "VALUES (1, 2, 2)'); c.commit()", DATABASE), check=True)
        owner = ssh_run(NODE, quoted("stat", "-c", "%U:%G %a", DATABASE), check=True).stdout
        assert _dump(DATABASE) != before
        restored = subprocess.run(
            [*CLI, "rollback", APP, "--host", NODE, "--restore-data", "--inventory",
             str(deployed_inventory), "--message", "the release 2 data is wrong"],
            capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
        assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
        assert _live(root) == outgoing  # the release the snapshot was kept with, live again
        said = restored.stdout.splitlines()
        dropped = next(line for line in said if f"exchange ({DATABASE}): snapshot taken" in line)
        assert f"snapshot taken {manifest[3]}, data file last modified " in dropped, said
        assert dropped.endswith("DROPS every write since the snapshot"), said
        assert any(line.endswith(f"restored exchange ({DATABASE}) from the snapshot of "
                                 f"{manifest[3]}") for line in said), said
        assert ssh_run(NODE, quoted("cmp", copy, DATABASE)).returncode == 0
        assert ssh_run(NODE, quoted("stat", "-c", "%U:%G %a", DATABASE),
                       check=True).stdout == owner
        assert _dump(DATABASE) == before
        status, _, body = fetch(PROBE)
        assert status == 200 and '"amount": 1.0' not in body
    finally:
        run = deploy(deployed_inventory)  # the data's release back
    assert run.returncode == 0, run.output[-3000:]
    assert _live(root) == outgoing
    assert_clean(deployed_inventory)
