"""The data's snapshot, probe and restore, run for real on local files: activate-release.sh with
systemd and curl replaced by stubs (each call logged) but a real python and real SQLite
databases, and restore-data.sh as it is, on temporary app roots.

What must hold: a release that changes snapshots each data file into the outgoing release
(consistent, root's alone, with its manifest) before the cutover and only then; a data probe
that fails stops a candidate and rolls back a live release, named; the restore prints what it
drops before it changes anything, then makes each file byte-equal to its snapshot with the
replaced file's owner, group and mode, and refuses what it should, changing nothing.
"""

from __future__ import annotations

import calendar
import filecmp
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from aitbc_infra.host_names import DATA_SNAPSHOT_DIR, TEMP_SUFFIX
from deploys.shell import script

# Values that would run `touch PWNED` if they reached a shell unquoted.
HOSTILE = ["x; touch PWNED #", "$(touch PWNED)", "`touch PWNED`", "a\ntouch PWNED",
           "a' ; touch PWNED ; 'b", "-rf --no-preserve-root"]

# A stub for systemctl, curl and journalctl: each call logged as JSON. Every unit is active;
# curl answers each URL with the status CURL_CODES gives it, as "RELEASE URL" while RELEASE is
# the live one (LIVE_LINK points at it) or as "URL" whatever runs; 200 for any other.
_STUB = """import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
if name == "systemctl" and args[:3] == ["show", "-p", "ActiveState"]:
    print("active")
if name == "systemctl" and args[:1] == ["restart"] and os.environ.get("WATCH"):
    with open(os.environ["STUB_LOG"], "a") as log:  # what the cutover found on disk
        log.write(json.dumps(["watched", os.path.exists(os.environ["WATCH"])]) + "\\n")
if name == "curl":
    codes = json.loads(os.environ.get("CURL_CODES", "{}"))
    live = os.path.basename(os.readlink(os.environ["LIVE_LINK"]))
    code = codes.get(f"{live} {args[-1]}", codes.get(args[-1], 200))
    if "-w" in args:
        print(code, end="")
    if code >= 400 and any(a.startswith("-f") for a in args):
        sys.exit(22)
"""


class Activation:
    """activate-release.sh on an app root of two releases, r0 live and r1 new."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.root = tmp / "app"
        self.pending = tmp / "pending"
        (self.root / "releases" / "r0").mkdir(parents=True)
        (self.root / "releases" / "r1").mkdir()
        (self.root / ".venv").symlink_to("releases/r0")
        (self.root / "data").mkdir()
        self.stubs = tmp / "stubs"
        self.stubs.mkdir()
        for name in ("systemctl", "curl", "journalctl"):
            (self.stubs / name).write_text(f"#!{sys.executable}\n{_STUB}")
            (self.stubs / name).chmod(0o755)
        self.log = tmp / "calls.jsonl"

    @property
    def kept(self) -> Path:
        """Where the outgoing release r0 keeps the data's snapshot."""
        return self.root / "releases" / "r0" / DATA_SNAPSHOT_DIR

    def run(self, data: str, *units: str, release: str = "r1", timeout: str = "1",
            codes: dict[str, int] | None = None) -> tuple[subprocess.CompletedProcess, list]:
        self.log.unlink(missing_ok=True)
        env = {"PATH": f"{self.stubs}:/usr/bin:/bin", "STUB_LOG": str(self.log),
               "CURL_CODES": json.dumps(codes or {}), "WATCH": str(self.kept / "manifest"),
               "LIVE_LINK": str(self.root / ".venv")}
        command = script("activate-release", str(self.pending), str(self.root), release, "3",
                         timeout, "app-x", "true", sys.executable, data, "", *units)
        result = subprocess.run(["/bin/sh", "-c", command], cwd=self.tmp, capture_output=True,
                                text=True, env=env)
        calls = [json.loads(line) for line in self.log.read_text().splitlines()] \
            if self.log.exists() else []
        assert not list(self.tmp.rglob("PWNED"))
        return result, calls


@pytest.fixture
def app(tmp_path) -> Activation:
    return Activation(tmp_path)


def make_db(path: Path, rows: int = 3, wal: bool = False) -> sqlite3.Connection:
    """A database of `rows` trades; the connection is returned open (a running app's)."""
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, amount REAL, total REAL)")
    conn.executemany("INSERT INTO trades (amount, total) VALUES (?, ?)",
                     [(i, i * 2.5) for i in range(rows)])
    conn.commit()
    return conn


def content(path: Path) -> list[str]:
    """A database as SQLite reads it: its schema and rows, in order."""
    conn = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


API = ("api", "restart", "yes", "no", "http://x:1/api/health", "-", "-")


# The snapshot ----------------------------------------------------------------------------------


def test_a_release_change_snapshots_the_data_into_the_outgoing_release_first(app):
    database = app.root / "data" / "exchange.db"
    make_db(database).close()
    database.chmod(0o640)
    before = content(database)
    started = time.time()
    result, calls = app.run(f"exchange=sqlite={database}", *API)
    assert result.returncode == 0, result.stderr
    assert (app.root / ".venv").readlink() == Path("releases/r1")
    copy = app.kept / "exchange.sqlite"
    assert content(copy) == before
    # Taken before the cutover: the snapshot was on disk when the unit was restarted.
    assert ["watched", True] in calls
    assert calls.index(["watched", True]) == calls.index(["systemctl", "restart", "api"]) + 1
    assert f"data exchange: {database} snapshotted" in result.stdout
    # Root's alone: the data may hold secrets.
    assert stat.S_IMODE(app.kept.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in app.kept.iterdir()} == {0o600}
    name, kind, path, taken, uid, gid, mode = (app.kept / "manifest").read_text().split()
    assert (name, kind, path, mode) == ("exchange", "sqlite", str(database), "0640")
    assert (int(uid), int(gid)) == (database.stat().st_uid, database.stat().st_gid)
    assert int(started) <= calendar.timegm(time.strptime(taken, "%Y-%m-%dT%H:%M:%SZ")) <= time.time()
    assert not list(app.root.rglob(f"*{TEMP_SUFFIX}"))


def test_a_snapshot_is_consistent_while_the_app_writes_in_wal_mode(app):
    """The running app holds the database open in WAL mode, its last rows only in the log: the
    snapshot has them all, and the app's files keep their owner."""
    database = app.root / "data" / "ledger.db"
    writer = make_db(database, rows=500, wal=True)
    try:
        writer.execute("INSERT INTO trades (amount, total) VALUES (9, 9)")
        writer.commit()
        assert (app.root / "data" / "ledger.db-wal").stat().st_size > 0
        result, _ = app.run(f"ledger=sqlite={database}", *API)
        assert result.returncode == 0, result.stderr
        copy = app.kept / "ledger.sqlite"
        rows = sqlite3.connect(copy).execute("SELECT COUNT(*), MAX(amount) FROM trades").fetchone()
        assert rows == (501, 499.0)
        assert sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        writer.close()


def test_no_snapshot_when_the_release_stays(app):
    database = app.root / "data" / "exchange.db"
    make_db(database).close()
    result, _ = app.run(f"exchange=sqlite={database}", *API, release="r0")
    assert result.returncode == 0, result.stderr
    assert not app.kept.exists() and "snapshotted" not in result.stdout


def test_a_data_file_not_there_yet_is_not_snapshotted(app):
    missing = app.root / "data" / "exchange.db"
    result, _ = app.run(f"exchange=sqlite={missing}", *API)
    assert result.returncode == 0, result.stderr
    assert f"data exchange: no {missing} yet, nothing to snapshot" in result.stdout
    assert not app.kept.exists() and not missing.exists()


def test_an_older_snapshot_of_the_release_is_replaced_or_removed(app):
    database = app.root / "data" / "exchange.db"
    make_db(database, rows=2).close()
    app.run(f"exchange=sqlite={database}", *API)
    (app.root / ".venv").unlink()
    (app.root / ".venv").symlink_to("releases/r0")  # r0 live again (a rollback)
    make_db(app.root / "data" / "other.db", rows=5).close()
    database.unlink()
    (app.root / "data" / "other.db").rename(database)
    result, _ = app.run(f"exchange=sqlite={database}", *API)
    assert result.returncode == 0, result.stderr
    assert len(content(app.kept / "exchange.sqlite")) == len(content(database))
    assert sqlite3.connect(app.kept / "exchange.sqlite").execute(
        "SELECT COUNT(*) FROM trades").fetchone() == (5,)
    # The file gone by the next cutover from r0: no snapshot may pass for its data any more.
    (app.root / ".venv").unlink()
    (app.root / ".venv").symlink_to("releases/r0")
    database.unlink()
    result, _ = app.run(f"exchange=sqlite={database}", *API)
    assert result.returncode == 0, result.stderr
    assert not app.kept.exists()


def test_a_failed_snapshot_stops_the_run_before_the_cutover(app):
    database = app.root / "data" / "exchange.db"
    database.write_bytes(b"not a database, but a file of this size at least " * 100)
    result, calls = app.run(f"exchange=sqlite={database}", *API)
    assert result.returncode == 1
    assert f"ERROR: could not snapshot the data of {app.root} into releases/r0" in result.stderr
    assert "release r1 never went live" in result.stderr
    assert (app.root / ".venv").readlink() == Path("releases/r0")
    assert not [c for c in calls if c[:2] == ["systemctl", "restart"]]
    assert not app.kept.exists() and not list(app.root.rglob(f"*{TEMP_SUFFIX}"))


def test_an_app_of_jobs_snapshots_before_its_switch_too(app):
    database = app.root / "data" / "marks.db"
    make_db(database).close()
    result, _ = app.run(f"marks=sqlite={database}", "job.timer", "none", "no", "no", "-", "-", "-")
    assert result.returncode == 0, result.stderr
    assert "switched to release r1" in result.stdout
    assert content(app.kept / "marks.sqlite") == content(database)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_root_holds_its_snapshot(tmp_path, value):
    app = Activation(tmp_path / value)
    database = tmp_path / "data.db"
    make_db(database).close()
    result, _ = app.run(f"exchange=sqlite={database}", *API)
    assert result.returncode == 0, result.stderr
    assert content(app.kept / "exchange.sqlite") == content(database)


# The data probe --------------------------------------------------------------------------------


PROBED = ("api", "restart", "yes", "no", "http://x:1/api/health", "http://127.0.0.1:2/api/health",
          "/api/trades/recent?limit=1")


def test_a_release_failing_its_data_probe_as_a_candidate_never_goes_live(app):
    database = app.root / "data" / "exchange.db"
    make_db(database).close()
    result, calls = app.run(f"exchange=sqlite={database}", *PROBED,
                            codes={"http://127.0.0.1:2/api/trades/recent?limit=1": 500})
    assert result.returncode == 1
    assert ("ERROR: api failed its data probe (/api/trades/recent?limit=1): healthy at "
            "http://127.0.0.1:2/api/health, but http://127.0.0.1:2/api/trades/recent?limit=1 did "
            "not answer 2xx with the existing data within 1s as a candidate of release r1") \
        in result.stderr
    assert (app.root / ".venv").readlink() == Path("releases/r0")
    assert not [c for c in calls if c[:3] == ["systemctl", "restart", "api"]]
    assert not app.kept.exists()  # never got as far as the cutover


def test_a_live_release_failing_its_data_probe_is_rolled_back_naming_it(app):
    database = app.root / "data" / "exchange.db"
    make_db(database).close()
    # No candidate (a service that never runs twice): r1 is gated live, and fails its probe.
    result, calls = app.run(f"exchange=sqlite={database}", *PROBED[:5], "-", PROBED[6],
                            codes={"r1 http://x:1/api/trades/recent?limit=1": 404})
    assert result.returncode == 1
    assert ("ERROR: api failed its data probe (/api/trades/recent?limit=1): healthy at "
            "http://x:1/api/health, but http://x:1/api/trades/recent?limit=1 did not answer 2xx "
            "with the existing data within 1s on release r1") in result.stderr
    assert f"ROLLED BACK {app.root} to releases/r0" in result.stderr
    assert "healthy again" in result.stderr
    assert (app.root / ".venv").readlink() == Path("releases/r0")
    assert content(app.kept / "exchange.sqlite") == content(database)  # kept with r0


def test_a_probe_is_asked_after_the_health_url_at_both_gates(app):
    result, calls = app.run("", *PROBED)
    assert result.returncode == 0, result.stderr
    asked = [c[-1] for c in calls if c[0] == "curl"]
    assert asked == ["http://127.0.0.1:2/api/health", "http://127.0.0.1:2/api/trades/recent?limit=1",
                     "http://x:1/api/health", "http://x:1/api/trades/recent?limit=1"]
    probe = next(c for c in calls if c[0] == "curl" and "-w" in c)
    # Brackets in a probe are the path's, never curl's URL globbing.
    assert any(a.startswith("-") and not a.startswith("--") and "g" in a for a in probe)


def test_a_redirect_is_no_answer_to_a_data_probe(app):
    result, _ = app.run("", *PROBED[:5], "-", PROBED[6],
                        codes={"r1 http://x:1/api/trades/recent?limit=1": 302})
    assert result.returncode == 1 and "failed its data probe" in result.stderr


# The restore -----------------------------------------------------------------------------------


def restore(root: Path, release: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", script("restore-data", str(root), release, *extra)],
                          capture_output=True, text=True, cwd=root.parent,
                          env={"PATH": "/usr/bin:/bin"})


@pytest.fixture
def snapshotted(app) -> Activation:
    """r1 live after a release change; r0 keeps the snapshot of two databases."""
    for name in ("exchange", "ledger"):
        make_db(app.root / "data" / f"{name}.db", rows=4).close()
    data = " ".join(f"{n}=sqlite={app.root / 'data' / f'{n}.db'}" for n in ("exchange", "ledger"))
    result, _ = app.run(data, *API)
    assert result.returncode == 0, result.stderr
    return app


def _write_after_the_snapshot(path: Path) -> None:
    """A row more, written (as its time says) after the snapshot's second."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO trades (amount, total) VALUES (100, 250)")
    conn.close()
    later = time.time() + 5
    os.utime(path, (later, later))


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def test_restore_says_what_it_drops_then_puts_each_file_back_byte_equal(snapshotted):
    app = snapshotted
    exchange, ledger = app.root / "data" / "exchange.db", app.root / "data" / "ledger.db"
    _write_after_the_snapshot(exchange)
    written = exchange.stat().st_mtime
    taken = (app.kept / "manifest").read_text().split()[3]
    old = time.time() - 3600
    os.utime(ledger, (old, old))  # last written long before the snapshot
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(exchange, *owner)
    exchange.chmod(0o640)
    result = restore(app.root, "r0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"restoring the data of {app.root} as release r0 left it:"
    assert lines[1] == (f"  exchange ({exchange}): snapshot taken {taken}, data file last "
                        f"modified {_utc(written)}: DROPS every write since the snapshot")
    assert lines[2] == (f"  ledger ({ledger}): snapshot taken {taken}, data file last modified "
                        f"{_utc(old)}, before it: drops nothing")
    assert lines[3:] == [f"restored exchange ({exchange}) from the snapshot of {taken}",
                         f"restored ledger ({ledger}) from the snapshot of {taken}"]
    assert filecmp.cmp(exchange, app.kept / "exchange.sqlite", shallow=False)
    assert filecmp.cmp(ledger, app.kept / "ledger.sqlite", shallow=False)
    assert sqlite3.connect(exchange).execute("SELECT COUNT(*) FROM trades").fetchone() == (4,)
    # The owner, group and mode of the file it replaced; nothing left beside it.
    assert (exchange.stat().st_uid, exchange.stat().st_gid) == owner
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o640
    assert not list(app.root.rglob(f"*{TEMP_SUFFIX}"))
    assert (app.kept / "exchange.sqlite").exists()  # the snapshot stays with its release


def test_restore_drops_the_old_databases_log_and_journal(snapshotted):
    """A write-ahead log or journal left beside the file belongs to the database replaced:
    SQLite would replay it onto the restored one."""
    app = snapshotted
    exchange = app.root / "data" / "exchange.db"
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{exchange}{suffix}").write_bytes(b"of the old database")
    result = restore(app.root, "r0")
    assert result.returncode == 0, result.stderr
    assert "exchange" in result.stdout.splitlines()[1] and "DROPS" in result.stdout.splitlines()[1]
    assert not [p for p in exchange.parent.iterdir() if p.name.startswith("exchange.db-")]
    assert filecmp.cmp(exchange, app.kept / "exchange.sqlite", shallow=False)
    assert sqlite3.connect(exchange).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_file_gone_comes_back_as_the_snapshot_recorded_it(snapshotted):
    app = snapshotted
    ledger = app.root / "data" / "ledger.db"
    _, _, _, taken, uid, gid, mode = (app.kept / "manifest").read_text().splitlines()[1].split()
    ledger.unlink()
    result = restore(app.root, "r0")
    assert result.returncode == 0, result.stderr
    assert (f"  ledger ({ledger}): snapshot taken {taken}; the data file is gone: it comes back "
            "as it was then") in result.stdout
    assert filecmp.cmp(ledger, app.kept / "ledger.sqlite", shallow=False)
    assert (ledger.stat().st_uid, ledger.stat().st_gid) == (int(uid), int(gid))
    assert f"{stat.S_IMODE(ledger.stat().st_mode):04o}" == mode


def test_no_snapshot_kept_is_exit_3_and_changes_nothing(snapshotted):
    app = snapshotted
    exchange = app.root / "data" / "exchange.db"
    _write_after_the_snapshot(exchange)
    before = exchange.read_bytes()
    result = restore(app.root, "r1")  # live, never outgoing: no snapshot kept with it
    assert result.returncode == 3 and result.stdout == ""
    assert f"no data snapshot kept with release r1 of {app.root}" in result.stderr
    result = restore(app.root, "r9")
    assert result.returncode == 3 and "release r9 of" in result.stderr and "not kept" in result.stderr
    assert exchange.read_bytes() == before


@pytest.mark.parametrize("args", [("relative/root", "r0"), ("{root}", "../r0"), ("{root}", ""),
                                  ("{root}", "r0 r1"), ("{root}",), ("{root}", "r0", "extra"),
                                  *(("{root}", value) for value in HOSTILE)])
def test_a_bad_argument_is_exit_2_before_anything_is_read(snapshotted, args):
    app = snapshotted
    exchange = app.root / "data" / "exchange.db"
    _write_after_the_snapshot(exchange)
    before = exchange.read_bytes()
    words = [a.replace("{root}", str(app.root)) for a in args]
    result = subprocess.run(["/bin/sh", "-c", script("restore-data", *words)], capture_output=True,
                            text=True, cwd=app.tmp, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "restore-data: refused" in result.stderr
    assert result.stdout == "" and exchange.read_bytes() == before
    assert not list(app.tmp.rglob("PWNED"))


@pytest.mark.parametrize(("edit", "says"), [
    (lambda line: line.replace(" sqlite ", " postgresql "), "kind 'postgresql'"),
    (lambda line: line.replace("/data/exchange.db", "/data/../../etc/passwd"), "data path"),
    (lambda line: line.replace("exchange ", "Exchange ", 1), "data name 'Exchange'"),
    (lambda line: line.replace(" sqlite ", " sqlite;touch${IFS}PWNED ", 1), "kind"),
    (lambda line: line + " extra", "more fields"),
    (lambda line: " ".join(line.split()[:-1]) + " 9999", "mode '9999'"),
], ids=["kind", "path", "name", "shell", "fields", "mode"])
def test_a_manifest_line_not_right_fails_before_any_file_changes(snapshotted, edit, says):
    app = snapshotted
    exchange, ledger = app.root / "data" / "exchange.db", app.root / "data" / "ledger.db"
    _write_after_the_snapshot(ledger)
    before = ledger.read_bytes(), exchange.read_bytes()
    manifest = app.kept / "manifest"
    first, second = manifest.read_text().splitlines()
    manifest.write_text(f"{second}\n{edit(first)}\n")  # the bad line last: nothing before it ran
    result = restore(app.root, "r0")
    assert result.returncode == 1 and says in result.stderr, result.stderr
    assert result.stdout == "" and (ledger.read_bytes(), exchange.read_bytes()) == before
    assert not list(app.tmp.rglob("PWNED"))


def test_a_missing_copy_fails_before_any_file_changes(snapshotted):
    app = snapshotted
    (app.kept / "ledger.sqlite").unlink()
    exchange = app.root / "data" / "exchange.db"
    _write_after_the_snapshot(exchange)
    before = exchange.read_bytes()
    result = restore(app.root, "r0")
    assert result.returncode == 1 and "no copy" in result.stderr and "ledger.sqlite" in result.stderr
    assert exchange.read_bytes() == before
