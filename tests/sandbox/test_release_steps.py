"""One-shot steps gate a release, on a real host: a migration step added to the exchange app on
aitbc (the payload's apps/trade-exchange/migrate.py, run in the new release with the exchange
API's env file before anything of that release goes live).

- Added to the data, the step runs once (its migration sets the schema version) and verify
  passes; a second deploy runs nothing.
- A release whose migration fails (a typo in its new migration) fails the run naming the step
  and its exit status: the live release, the API's start time and the database are as they
  were, and no request fails.
- A release whose migration adds the column its new code reads goes live: the step ran before
  the candidate, which reads the migrated database through its data probe; it ran exactly
  once for that release, and a second deploy runs nothing. A rollback runs no step: going
  back over the migration is `rollback --restore-data`, which puts back the database as it was
  before the step ran.

The step is not in the production data (the February tree has no migration script): a copy of
the data declares it, and at the end its template unit is removed by hand and the site deployed
as it was.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_helpers import (
    DeployRun,
    assert_clean,
    assert_verified,
    changed_tree,
    converge_back,
    deploy,
    fetch,
    request_loop,
    variant_inventory,
)
from exchange_app import API, APP, DATABASE, NODE, PROBE, TREE, active_since

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.host_names import step_unit
from aitbc_infra.host_scripts import quoted
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import App
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox import ssh_run

CLI = [sys.executable, "-m", "aitbc_infra"]
STEP = {"name": "migrate", "command": ["migrate.py"], "workdir": "apps/trade-exchange",
        "timeout_seconds": 60}
# The exchange app's data declaration in group_data/aitbc_container.py: the step follows it.
AFTER_DATA = '"data": [{"name": "exchange", "kind": "sqlite", "path": "{root}/data/exchange.db"}],\n'
# The end of migrate.py's list of migrations: a new one goes before the closing bracket.
LAST_MIGRATION = '     " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"],\n]\n'
ADD_FEE = "ALTER TABLE trades ADD COLUMN fee REAL NOT NULL DEFAULT 0"

# Read on the host through SQLite (the python3 every host has): the schema version, then the
# schema and rows in order.
DUMP = ("import sqlite3, sys, urllib.parse; "
        "c = sqlite3.connect('file:' + urllib.parse.quote(sys.argv[1]) + '?mode=ro', uri=True); "
        "print(c.execute('PRAGMA user_version').fetchone()[0]); "
        "print(chr(10).join(c.iterdump()))")


def _dump() -> str:
    return ssh_run(NODE, quoted("python3", "-c", DUMP, DATABASE), check=True).stdout


def _version() -> int:
    return int(_dump().split("\n", 1)[0])


def _trades_table() -> str:
    return next(line for line in _dump().splitlines() if line.startswith("CREATE TABLE trades"))


def _live(app: App) -> str:
    """The release the app runs, by its id."""
    link = ssh_run(NODE, quoted("readlink", app.venv), check=True).stdout.strip()
    return link.rsplit("/", 1)[-1]


def _said(release: str, since: str) -> list[str]:
    """What the step said in its runs for `release` since `since` (seconds since the epoch,
    the host's): migrate.py prints a line per migration it applies, or one saying the version
    it found up to date."""
    out = ssh_run(NODE, quoted("journalctl", "-q", "-o", "cat", "--since", f"@{since}", "-u",
                               step_unit(API, "migrate", release)), check=True).stdout
    return [line for line in out.splitlines() if line.startswith("exchange schema")]


def _with_migration(tmp: Path, statement: str) -> Path:
    """This project with a second migration, and the API's reads naming the fee column that
    migration adds (as the release in test_data_safety.py does, which had no migration)."""
    return changed_tree(
        tmp, f"{TREE}/migrate.py", LAST_MIGRATION,
        LAST_MIGRATION[:-2] + f"    # 2: a fee per trade\n    [{statement!r}],\n]\n",
        also=((f"{TREE}/database.py", "SELECT * FROM trades ORDER BY",
               "SELECT id, amount, price, total, fee, created_at FROM trades ORDER BY"),))


# Run as the app's user at the end: the schema version back to none, as the production data
# (which runs no migration) leaves it.
NO_VERSION = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
              "c.execute('PRAGMA user_version = 0'); c.commit()")


@dataclass
class WithStep:
    variant: Path  # the sandbox inventory with the step
    run: DeployRun  # the deploy that added it
    failed_routes: set[str]
    app: App
    release: str  # the app's release then (the data's, unchanged by the step)
    template: str  # the step's template unit file
    since: str  # the host's clock before it: the step's journal is read from there on
    tmp: Path

    def said(self, release: str) -> list[str]:
        return _said(release, self.since)


@pytest.fixture(scope="module")
def with_step(deployed_inventory, tmp_path_factory) -> Iterator[WithStep]:
    tmp = tmp_path_factory.mktemp("release-steps")
    (tmp / "variant").mkdir()
    variant = variant_inventory(tmp / "variant", "aitbc_container", AFTER_DATA,
                                f"{AFTER_DATA}        \"steps\": [{STEP!r}],\n")
    app = next(a for a in load_fleet(variant).hosts[NODE].apps if a.name == APP)
    assert [s.name for s in app.steps] == ["migrate"] and app.data_path(app.data[0]) == DATABASE
    template = next(f.path for f in render_fleet(load_fleet(variant))[NODE] if f.kind == "step")
    since = ssh_run(NODE, "date +%s", check=True).stdout.strip()
    try:
        with request_loop("a release step added to the exchange app") as traffic:
            run = deploy(variant)
        assert run.returncode == 0, run.output[-3000:]
        yield WithStep(variant, run, traffic.failed_routes(), app, _live(app), template, since,
                       tmp)
    finally:
        # Out of the model, the step's template unit would stay: removed here.
        ssh_run(NODE, f"rm -f {quoted(template)}; systemctl daemon-reload; "
                f"{quoted('runuser', '-u', app.user, '--', 'python3', '-c', NO_VERSION, DATABASE)}",
                timeout=60)
        converge_back(deployed_inventory)


def test_a_step_added_runs_once_and_a_second_deploy_runs_nothing(with_step):
    s = with_step
    owed = s.run.results.get("owed", {})
    assert set(owed) == {NODE}, owed
    # Its template added: loaded, and run once for the release the app runs.
    assert owed[NODE] == [f"load the units of {APP}: {s.template} added",
                          f"run step migrate of {APP} ({API}-step-migrate@): {s.template} added"]
    assert s.failed_routes == set()  # a step costs no request
    # The migration ran on the database the earlier releases made: at version 1 now, its
    # table as it was.
    assert _version() == 1 and "fee" not in _trades_table()
    assert s.said(s.release) == ["exchange schema: migration 1 applied"]
    assert_verified(s.variant, s.tmp / "verify.xml", f"{NODE}: unit {API} runs its files on disk")
    run = deploy(s.variant)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == 0, run.changed_operations()
    assert not run.results.get("owed"), run.results.get("owed")
    assert s.said(s.release) == ["exchange schema: migration 1 applied"]  # not again


def test_a_release_whose_migration_fails_changes_nothing_running(with_step, tmp_path):
    s = with_step
    tree = _with_migration(tmp_path, ADD_FEE.replace("TABLE trades", "TABLE trade"))  # a typo
    release, started, data = _live(s.app), active_since(API), _dump()
    with request_loop("exchange release whose migration fails") as traffic:
        run = deploy(s.variant, tree)
    assert run.returncode == 1
    assert run.results["failed_hosts"] == [NODE]
    assert f"ERROR: release step migrate of {s.app.root} failed: {API}-step-migrate@" \
        in run.output, run.output[-3000:]
    assert "exited with status 1 (systemd result: exit-code)" in run.output
    assert "never went live (release, unit and env files unchanged, no running unit touched)" \
        in run.output
    # What the migration said, shown before the error.
    assert "exchange schema: migration 2 failed, none of it applied: no such table: trade" \
        in run.output
    # Not one request saw it; the API never restarted, its release and data are as they were.
    assert traffic.failed_routes() == set(), traffic.report()
    assert _live(s.app) == release and active_since(API) == started
    assert _dump() == data
    status, _, body = fetch(PROBE)
    assert status == 200 and '"fee"' not in body
    assert_clean(s.variant)  # no journal pending, no failed unit (the step's reset)
    run = deploy(s.variant)  # the good tree again: the trade exchange's release back
    assert run.returncode == 0, run.output[-3000:]


def test_a_migration_gates_its_release_once_and_a_rollback_migrates_nothing(with_step, tmp_path):
    s = with_step
    tree = _with_migration(tmp_path, ADD_FEE)
    before, outgoing = _dump(), _live(s.app)
    with request_loop("exchange release with a migration its reads need") as traffic:
        run = deploy(s.variant, tree)
    assert run.returncode == 0, run.output[-3000:]
    assert traffic.failed_routes() == set(), traffic.report()
    release = _live(s.app)
    assert release != outgoing
    lines = run.results.get("owed", {}).get(NODE, [])
    assert f"run step migrate of {APP} ({API}-step-migrate@): release releases/{outgoing} -> " \
        f"releases/{release}" in lines, lines
    # The migration's effect: the column, read by the new release through the data probe.
    assert _version() == 2 and "fee REAL NOT NULL DEFAULT 0" in _trades_table()
    status, _, body = fetch(PROBE)
    assert status == 200 and '"fee": 0' in body
    assert s.said(release) == ["exchange schema: migration 2 applied"]  # exactly once
    run = deploy(s.variant, tree)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == 0 and not run.results.get("owed"), run.results.get("owed")
    assert s.said(release) == ["exchange schema: migration 2 applied"]

    # Back over the migration: no step runs on a rollback; --restore-data puts back the
    # database as the snapshot took it, just before the step ran (kept with the release left).
    back = subprocess.run(
        [*CLI, "rollback", APP, "--host", NODE, "--to", outgoing, "--restore-data",
         "--inventory", str(s.variant), "--message", "the fee column goes back"],
        capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert _live(s.app) == outgoing
    assert _dump() == before and "fee" not in _trades_table()
    assert s.said(outgoing) == ["exchange schema: migration 1 applied"]  # not run again
    assert s.said(release) == ["exchange schema: migration 2 applied"]
    status, _, body = fetch(PROBE)
    assert status == 200 and '"fee"' not in body
    run = deploy(s.variant)  # the data's release is the good tree's again: the record goes
    assert run.returncode == 0, run.output[-3000:]
    assert _live(s.app) == outgoing
