"""`aitbc-infra rollback` without a host: its arguments, the release it chooses and the ones it
refuses, what it runs on a host (rollback.sh and activate-release.sh for real, against stub
systemctl and curl, under a real flock), the history line and the rollback record it leaves,
its --json document, and what the deploy and `status` make of a rolled-back app. The round
against real hosts is tests/sandbox/test_rollback.py."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_deploy_commands import HOSTILE, _stub
from test_timers import JOB, fleet_with

from aitbc_infra import PROJECT_ROOT, rollback_command
from aitbc_infra.cli import main
from aitbc_infra.decision import NOTHING, RESTART, converged, decide, rollbacks
from aitbc_infra.deploy_lock import lock_command
from aitbc_infra.drift import PathState
from aitbc_infra.errors import UserError
from aitbc_infra.history import Run, holder, parse_log
from aitbc_infra.history_command import changed
from aitbc_infra.host_names import (
    PENDING_DIR,
    RELEASE_MARKER,
    ROLLBACK_RECORD,
    STEP_INFIX,
    step_template,
)
from aitbc_infra.host_scripts import script
from aitbc_infra.json_schema import load
from aitbc_infra.json_schema import problems as schema_problems
from aitbc_infra.model import Step
from aitbc_infra.plan import host_plan, release_marker
from aitbc_infra.rollback import (
    APP_END,
    AppRollback,
    HostRollback,
    app_owed,
    app_statuses,
    asked,
    chosen,
    history_line,
    locked_command,
    release_name,
    target,
    targets,
)
from aitbc_infra.rollback_command import HostResult, document, session, summary
from aitbc_infra.rollback_record import Record
from aitbc_infra.rollback_record import parse as parse_record
from aitbc_infra.status import AppStatus, Asked, HostStatus, Release, command, problems
from aitbc_infra.status import document as status_doc
from aitbc_infra.status import parse as parse_status
from aitbc_infra.summary import outcomes, run_results, summary_text

INVENTORY = str(PROJECT_ROOT / "inventory.py")
RUN = Run("ops@ci", "the new release loses orders", datetime(2026, 3, 1, 12, tzinfo=UTC), 4242)
COMMITS = {"project": "0123456789ab", "sources": None}


def _app(name="coordinator-api", live="r3", releases=(("r1", True, "2026-01-01T00:00:00Z"),
                                                       ("r2", True, "2026-02-01T00:00:00Z"),
                                                       ("r3", True, "2026-03-01T00:00:00Z")),
         record: Record | None = None) -> AppStatus:
    return AppStatus(name, f"/opt/{name}", f"releases/{live}" if live else None,
                     [Release(n, 100, whole, when) for n, whole, when in releases],
                     rollback=record)


def _host(node="aitbc", **app) -> HostStatus:
    return HostStatus(node, apps=[_app(**app)])


# Arguments: refused before any connection -------------------------------------------------------


def _no_connection(inventory):
    raise AssertionError("connected")


@pytest.mark.parametrize(("argv", "said"), [
    (["rollback"], "name the apps to roll back, or --all (not both)"),
    (["rollback", "coordinator-api", "--all"], "name the apps to roll back, or --all"),
    (["rollback", "coordinator-api", "wallet-daemon", "--to", "r1"], "--to names one release"),
    (["rollback", "--all", "--to", "r1"], "--to names one release"),
    (["rollback", "coordinator-api", "--to", "../r1"], "--to '../r1': not a release name"),
    (["rollback", "coordinator-api", "--to", "r1; rm -rf /"], "not a release name"),
    (["rollback", "nope"], "no app 'nope' in the inventory (its apps: "),
    (["rollback", "coordinator-api", "--host", "nope"], "--host 'nope': not a host of the inventory"),
    (["rollback", "coordinator-api", "--host", "at1"], "--host at1: runs none of coordinator-api"),
    (["rollback", "coordinator-api", "-m", "two\nlines"], "--message: character 4 is U+000A"),
])
def test_bad_input_exits_2_before_any_connection(monkeypatch, capsys, argv, said):
    monkeypatch.setattr(rollback_command, "connect", _no_connection)
    assert main([*argv, "--inventory", INVENTORY]) == 2
    out, err = capsys.readouterr()
    assert out == "" and said in err, err


def test_the_hosts_are_those_running_the_apps(fleet):
    assert chosen(fleet, ["coordinator-api"], False, None) == {
        "aitbc": ["coordinator-api"], "ns3-aitbc": ["coordinator-api"]}
    assert chosen(fleet, ["coordinator-api"], False, "ns3-aitbc") == {"ns3-aitbc": ["coordinator-api"]}
    every = chosen(fleet, [], True, None)
    assert every == {n: [a.name for a in h.apps] for n, h in fleet.hosts.items() if h.apps}
    # What a host is asked: those apps' roots, nothing else of the host.
    read = asked(fleet.hosts["aitbc"], ["coordinator-api"])
    assert read.apps == {"/opt/coordinator-api": "coordinator-api"} and read.units == ()
    assert release_name("0123456789abcdef") == "0123456789abcdef"
    with pytest.raises(UserError):
        release_name("..")


# The release gone back to ------------------------------------------------------------------------


def test_the_default_is_the_most_recently_activated_whole_release_before_the_live_one():
    assert target(_host(), "coordinator-api", None) == "r2"
    # Activation time, not name or listing order, decides; an unfinished build is passed over.
    releases = (("r9", False, "2026-02-20T00:00:00Z"), ("r1", True, "2026-02-10T00:00:00Z"),
                ("r2", True, "2026-01-01T00:00:00Z"), ("r3", True, "2026-03-01T00:00:00Z"))
    assert target(_host(releases=releases), "coordinator-api", None) == "r1"
    # The live one need not be the newest (an earlier rollback): the newest other one.
    assert target(_host(live="r1", releases=releases), "coordinator-api", None) == "r3"


def test_to_names_a_kept_whole_release_or_is_already_live():
    assert target(_host(), "coordinator-api", "r1") == "r1"
    assert target(_host(), "coordinator-api", "r3") is None  # live already: nothing to do


@pytest.mark.parametrize(("status", "to", "said"), [
    (_host(), "r0", "aitbc: coordinator-api: release r0 is not kept; kept: r3 (live, activated "
     "2026-03-01T00:00:00Z), r2 (activated 2026-02-01T00:00:00Z), r1 (activated "
     "2026-01-01T00:00:00Z)"),
    (_host(releases=(("r1", False, "2026-01-01T00:00:00Z"), ("r3", True, "2026-03-01T00:00:00Z"))),
     "r1", "aitbc: coordinator-api: release r1 is not whole (no marker: a build cut short); kept: "
     "r3 (live, activated 2026-03-01T00:00:00Z), r1 (unfinished build, activated"),
    (_host(releases=(("r3", True, "2026-03-01T00:00:00Z"),)), None,
     "aitbc: coordinator-api: no release kept to roll back to besides the live one (r3); kept: r3"),
    (_host(releases=(("r1", False, "2026-01-01T00:00:00Z"), ("r3", True, "2026-03-01T00:00:00Z"))),
     None, "no release kept to roll back to besides the live one"),
    (_host(live=None), None, "aitbc: coordinator-api: no live release to roll back from"),
], ids=["not kept", "not whole", "nothing else kept", "only an unfinished build", "no live"])
def test_a_release_that_cannot_be_gone_back_to_is_refused_listing_what_is_kept(status, to, said):
    with pytest.raises(ValueError) as info:
        target(status, "coordinator-api", to)
    assert said in str(info.value)


def test_every_refusal_of_every_host_at_once_and_nothing_planned():
    wanted = {"aitbc": ["coordinator-api"], "ns3-aitbc": ["coordinator-api"]}
    statuses = {"aitbc": _host(), "ns3-aitbc": _host("ns3-aitbc", releases=(("r3", True, "x"),))}
    with pytest.raises(UserError) as info:
        targets(wanted, statuses, "r1", RUN)
    said = str(info.value)
    assert said.startswith("refused, nothing changed on any host:")
    assert "ns3-aitbc: coordinator-api: release r1 is not kept" in said
    assert "aitbc: coordinator-api" not in said.replace("ns3-aitbc: coordinator-api", "")


def test_the_record_keeps_the_data_release_across_rollbacks_and_goes_when_back_on_it():
    wanted = {"aitbc": ["coordinator-api"]}
    first, = targets(wanted, {"aitbc": _host()}, None, RUN)
    assert first.apps == (AppRollback("coordinator-api", "r3", "r2",
                                      Record("r2", "r3", "r3", "ops@ci", RUN.time, RUN.message)),)
    # Rolled back once (r3 was the data's), now on r2: the rollback touched r3 as it left it,
    # then r2 as it went live. Further back, the data's release is still r3.
    again = _host(live="r2", record=first.apps[0].record,
                  releases=(("r1", True, "2026-01-01T00:00:00Z"), ("r2", True, "2026-03-02T00:00:01Z"),
                            ("r3", True, "2026-03-02T00:00:00Z")))
    further, = targets(wanted, {"aitbc": again}, "r1", RUN)
    assert further.apps[0].record == Record("r1", "r2", "r3", "ops@ci", RUN.time, RUN.message)
    # A second rollback without --to undoes the first: back on the data's own release, no record.
    home, = targets(wanted, {"aitbc": again}, None, RUN)
    assert home.apps == (AppRollback("coordinator-api", "r2", "r3", None),)
    # A host that could not be read is left to the command (a failed host), refused nothing.
    assert targets(wanted, {"aitbc": HostStatus("aitbc", error="no route")}, "r0", RUN) == []


# The record --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_the_record_is_one_ascii_line_whatever_it_holds(value):
    record = Record("r2", "r3", "r3", value, RUN.time, value + "\u202e\u2028")
    line = record.encode()
    assert "\n" not in line and line.isascii() and line.startswith("{") and line.endswith("}")
    assert parse_record(line) == record


@pytest.mark.parametrize(("line", "why"), [
    ("not json", "not JSON"), ("[1]", "a JSON list, not an object"),
    ('{"v": 2}', "version 2"), ('{"v": 1, "release": 5}', "no text for release, from, data"),
])
def test_a_record_that_is_none_is_said_so(line, why):
    assert why in parse_record(line)


# What a host runs, for real: rollback.sh, activate-release.sh, flock, history-add.sh -----------


class Host:
    """An app root under tmp_path as a host keeps it, the host's commands run here: systemctl,
    curl and journalctl are stubs that log each call and say every unit runs."""

    def __init__(self, tmp: Path, fleet, monkeypatch, keep: int = 2, restore: bool = False,
                 steps: tuple[Step, ...] = ()):
        self.tmp, self.root = tmp, tmp / "opt app"  # a blank in the root: quoted all the way
        spec = fleet.hosts["aitbc"]
        app = next(a for a in spec.apps if a.name == "coordinator-api")
        # No data declared: a data path is one word of activate-release's DATA argument, which
        # the model's paths (no blank) allow and this root's blank would not; the snapshots have
        # their own tests (test_data_snapshots.py).
        moved = app.model_copy(update={"root": str(self.root), "data": [], "steps": list(steps)})
        self.spec = spec.model_copy(update={
            "apps": [moved], "rollout": spec.rollout.model_copy(update={"keep_releases": keep})})
        self.fleet = SimpleNamespace(hosts={"aitbc": self.spec}, endpoint=fleet.endpoint)
        self.pending, self.log = tmp / "pending", tmp / "history.jsonl"
        self.lock, self.holder = tmp / "lock", tmp / "holder"
        stubs = tmp / "stubs"
        for name in ("systemctl", "curl", "journalctl"):
            _stub(stubs / name)
        monkeypatch.setenv("PATH", f"{stubs}:/usr/bin:/bin")
        monkeypatch.setenv("STUBS", str(stubs))
        monkeypatch.setenv("STUB_LOG", str(tmp / "calls.jsonl"))
        self.restore = restore

    def release(self, name: str, mtime: int, whole: bool = True) -> None:
        path = self.root / "releases" / name
        path.mkdir(parents=True)
        if whole:
            (path / RELEASE_MARKER).write_text(f"{name}\n")
        os.utime(path, (mtime, mtime))

    def live(self) -> str:
        return os.readlink(self.root / ".venv")

    def calls(self) -> list[list[str]]:
        log = self.tmp / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def command(self, rollback: HostRollback) -> str:
        line = locked_command(self.fleet, rollback, self.restore, RUN, lock_file=str(self.lock),
                              holder_file=str(self.holder), log=str(self.log))
        return line.replace(PENDING_DIR, str(self.pending))

    def roll_back(self, rollback: HostRollback):
        said = []

        def line_for(output, seconds):
            return history_line(self.fleet, rollback, app_statuses(output, len(rollback.apps)),
                                RUN, COMMITS, seconds, self.restore)

        kind, output, problem = session(None, self.command(rollback), said.append, line_for)
        return kind, output, problem

    def status(self) -> AppStatus:
        read = Asked(apps={str(self.root): "coordinator-api"})
        done = subprocess.run(["sh", "-c", command(read)], capture_output=True, text=True, check=True)
        return parse_status("aitbc", read, done.stdout).apps[0]


def _one(to="r1", record=True, from_release="r2") -> HostRollback:
    kept = Record(to, from_release, from_release, RUN.operator, RUN.time, RUN.message) if record else None
    return HostRollback("aitbc", (AppRollback("coordinator-api", from_release, to, kept),))


def test_a_rollback_runs_no_release_step(tmp_path, fleet, monkeypatch):
    """A rollback builds and migrates nothing: the app's release steps (here upstream's
    `alembic upgrade head`) are neither run nor handed to activate-release; over a migration,
    --restore-data puts the data of before it back."""
    migrate = Step(name="migrate", command=["-m", "alembic", "upgrade", "head"])
    host = Host(tmp_path, fleet, monkeypatch, steps=(migrate,))
    host.release("r1", 1_000)
    host.release("r2", 2_000)
    (host.root / ".venv").symlink_to("releases/r2")
    assert step_template("coordinator-api", "migrate") not in host.command(_one())
    kind, output, problem = host.roll_back(_one())
    assert (kind, problem) == ("locked", None), output
    assert host.live() == "releases/r1"
    assert ["systemctl", "restart", "coordinator-api"] in host.calls()
    assert not [c for c in host.calls() if any(STEP_INFIX in word for word in c)]


def test_a_rollback_goes_back_under_the_lock_and_never_prunes_the_release_it_leaves(
        tmp_path, fleet, monkeypatch):
    host = Host(tmp_path, fleet, monkeypatch, keep=2)
    host.release("r1", 1_000)  # the release to go back to
    host.release("r2", 2_000)  # live
    host.release("r3", 3_000)  # a newer build never activated (its candidate failed)
    (host.root / ".venv").symlink_to("releases/r2")
    kind, output, problem = host.roll_back(_one())
    assert (kind, problem) == ("locked", None), output
    assert host.live() == "releases/r1", output
    # Two kept (keep 2): r1, now live, and r2, the release left; the unactivated r3 goes.
    assert sorted(p.name for p in (host.root / "releases").iterdir()) == ["r1", "r2"]
    # The candidate first, then the live unit restarted, its gate: activate-release's own way.
    calls = host.calls()
    start = calls.index(["systemctl", "start", "coordinator-api-candidate@r1.socket",
                         "coordinator-api-candidate@r1.service"])
    assert start < calls.index(["systemctl", "restart", "coordinator-api"])
    assert f"{APP_END}0 0" in output and any("healthy after" in line for line in output)
    # The record status reads back, and the history line the lock's command appended.
    app = host.status()
    assert app.live == "r1" and app.rollback == _one().apps[0].record
    assert [r.name for r in app.by_activation()] == ["r1", "r2"]
    entries, skipped = parse_log("aitbc", "".join(
        f"{i}\t{line}\n" for i, line in enumerate(host.log.read_text().splitlines(), 1)))
    assert skipped == [] and len(entries) == 1
    data = entries[0].data
    assert (entries[0].kind, data["result"], data["operator"], data["message"]) == (
        "rollback", "ok", "ops@ci", RUN.message)
    assert data["changes"]["releases"] == {"coordinator-api": {"before": "r2", "after": "r1"}}
    assert [r["unit"] for r in data["changes"]["restarts"]] == ["coordinator-api"]
    assert changed(data) == ["rollback coordinator-api r2 -> r1", "restart coordinator-api"]
    assert not host.holder.exists()  # the lock let go


def test_back_on_the_data_release_the_record_goes(tmp_path, fleet, monkeypatch):
    host = Host(tmp_path, fleet, monkeypatch)
    host.release("r1", 1_000)
    host.release("r2", 2_000)
    (host.root / ".venv").symlink_to("releases/r1")
    (host.root / ROLLBACK_RECORD).write_text(_one().apps[0].record.encode() + "\n")
    kind, output, _ = host.roll_back(_one(to="r2", record=False, from_release="r1"))
    assert kind == "locked" and host.live() == "releases/r2"
    assert not (host.root / ROLLBACK_RECORD).exists()
    assert any("its rollback record is removed" in line for line in output)


def test_a_host_changed_since_it_was_read_is_refused_and_nothing_changes(tmp_path, fleet, monkeypatch):
    host = Host(tmp_path, fleet, monkeypatch)
    host.release("r1", 1_000)
    host.release("r2", 2_000)
    host.release("r3", 3_000)
    (host.root / ".venv").symlink_to("releases/r3")  # a deploy went on to r3 meanwhile
    kind, output, problem = host.roll_back(_one())
    assert (kind, problem) == ("locked", None)
    assert f"{APP_END}0 2" in output
    assert any("changed since it was read" in line and "not releases/r2" in line for line in output)
    assert host.live() == "releases/r3" and host.calls() == []
    assert not host.log.exists()  # nothing changed: no history line
    assert os.stat(host.root / "releases" / "r2").st_mtime == 2_000


def test_a_release_gone_since_it_was_read_is_refused(tmp_path, fleet, monkeypatch):
    host = Host(tmp_path, fleet, monkeypatch)
    host.release("r1", 1_000, whole=False)
    host.release("r2", 2_000)
    (host.root / ".venv").symlink_to("releases/r2")
    kind, output, _ = host.roll_back(_one())
    assert f"{APP_END}0 2" in output and any("no longer kept whole" in line for line in output)
    assert host.live() == "releases/r2" and host.calls() == []


def test_a_held_lock_names_its_holder_and_nothing_runs(tmp_path, fleet, monkeypatch):
    host = Host(tmp_path, fleet, monkeypatch)
    host.release("r1", 1_000)
    host.release("r2", 2_000)
    (host.root / ".venv").symlink_to("releases/r2")
    other = Run("ops@elsewhere", "rotating the wallet key", RUN.started, 7)
    held = subprocess.Popen(["sh", "-c", lock_command(holder(other), str(host.lock), str(host.holder))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == "locked"
        kind, output, _ = host.roll_back(_one())
    finally:
        held.stdin.close()
        held.wait(timeout=10)
    assert kind == "held" and json.loads(output[0])["message"] == "rotating the wallet key"
    assert host.live() == "releases/r2" and host.calls() == []


def test_restore_data_without_a_snapshot_starts_the_app_again_as_it_was(tmp_path, fleet, monkeypatch):
    host = Host(tmp_path, fleet, monkeypatch, restore=True)
    host.release("r1", 1_000)
    host.release("r2", 2_000)
    (host.root / ".venv").symlink_to("releases/r2")
    kind, output, _ = host.roll_back(_one())
    assert kind == "locked" and f"{APP_END}0 1" in output
    assert any("no data snapshot kept with release r1" in line for line in output)
    assert any(line.startswith("NOT RESTORED") for line in output)
    # Stopped (sockets too: a connection would start the service again), then started again.
    units = ["coordinator-api", "coordinator-api.socket"]
    assert host.calls() == [["systemctl", "stop", *units], ["systemctl", "start", *units]]
    assert host.live() == "releases/r2" and not (host.root / ROLLBACK_RECORD).exists()
    data = json.loads(host.log.read_text())
    assert (data["kind"], data["result"], data["step"]) == (
        "rollback", "failed", "coordinator-api: rollback to r1")


@pytest.mark.parametrize("value", HOSTILE)
def test_rollback_sh_refuses_before_doing_anything(tmp_path, monkeypatch, value):
    stubs = tmp_path / "stubs"
    _stub(stubs / "systemctl")
    monkeypatch.setenv("PATH", f"{stubs}:/usr/bin:/bin")
    monkeypatch.setenv("STUBS", str(stubs))
    monkeypatch.setenv("STUB_LOG", str(tmp_path / "calls.jsonl"))
    good = ["-", "-", "/p", "app-x", RELEASE_MARKER, "/r", "r2", "r1", "/r/rec", "-", "3", "5",
            "u", "restart", "no", "no", "-", "-", "--", "u"]
    for at in (5, 6, 7, 8, 9, 19):  # the root, releases, record, record line, a unit to stop
        args = list(good)
        args[at] = value
        done = subprocess.run(["/bin/sh", "-c", script("rollback", *args)], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 2 and "rollback: refused" in done.stderr, (at, done.stderr)
    assert not (tmp_path / "calls.jsonl").exists() and not list(tmp_path.rglob("PWNED"))


def test_the_restore_placeholder_keeps_its_interface(tmp_path):
    def run(*args):
        return subprocess.run(["/bin/sh", "-c", script("restore-data", *args)], capture_output=True,
                              text=True)
    assert run("/opt/app", "r1").returncode == 3
    assert run("/opt/app", "../r1").returncode == 2 and run("opt", "r1").returncode == 2
    assert run("/opt/app").returncode == 2


def test_the_command_line_of_every_app_of_a_host_stays_under_the_bound(fleet):
    """A host's command is one argument of at most 128 KiB: the scripts' text is in it once,
    whatever the number of apps."""
    spec = fleet.hosts["aitbc"]
    every = HostRollback("aitbc", tuple(AppRollback(a.name, "r2", "r1", None) for a in spec.apps))
    one = HostRollback("aitbc", every.apps[:1])
    size = len(locked_command(fleet, every, True, RUN).encode())
    assert size < 128 * 1024
    assert size - len(locked_command(fleet, one, True, RUN).encode()) < 2048 * len(spec.apps)
    # And the words a host's shell sees are the ones meant: each app's arguments whole.
    words = shlex.split(locked_command(fleet, one, False, RUN))
    assert words[:3] == ["flock", "-n", "-E"]


# The history line and the document -----------------------------------------------------------------


def test_the_history_line_says_what_the_rollback_did(fleet):
    spec = fleet.hosts["aitbc"]
    two = HostRollback("aitbc", (AppRollback("coordinator-api", "r3", "r2", None),
                                 AppRollback("wallet-daemon", "w3", "w2", None)))
    assert history_line(fleet, two, [2, None], RUN, COMMITS, 1.0, False) is None  # refused first
    failed = json.loads(history_line(fleet, two, [0, 1], RUN, COMMITS, 4.2, False))
    assert failed["kind"] == "rollback" and failed["result"] == "failed"
    assert failed["step"] == "wallet-daemon: rollback to w2"
    assert set(failed["changes"]["releases"]) == {"coordinator-api", "wallet-daemon"}
    assert failed["changes"]["operations"] == 1 and failed["seconds"] == 4.2
    assert {r["reasons"][0] for r in failed["changes"]["restarts"]} == {"rollback to r2",
                                                                         "rollback to w2"}
    ok = json.loads(history_line(fleet, two, [0, 0], RUN, COMMITS, 4.2, True))
    assert (ok["result"], ok["step"]) == ("ok", None)
    assert "data restored from the snapshot kept with it" in ok["changes"]["restarts"][0]["reasons"]
    assert spec  # the fleet's own host


def test_a_scheduled_job_keeps_its_timer_only_its_release_switches():
    fleet = fleet_with()
    app = next(a for a in fleet.hosts["aitbc"].apps if any(s.unit == JOB for s in a.services))
    owed = {u.unit: u.action for u in app_owed(app, "r1", False).units}
    assert owed[f"{JOB}.timer"] == NOTHING
    assert {a for u, a in owed.items() if u != f"{JOB}.timer"} == {RESTART}


def _results() -> list[HostResult]:
    one = _one()
    return [HostResult("aitbc", one, [0], output=["healthy after 1.0s: coordinator-api"],
                       seconds=3.1),
            HostResult("ns3-aitbc", replace(one, node="ns3-aitbc"), [1],
                       failure="coordinator-api: not rolled back to r1, still on r2 (see above)",
                       seconds=25.0),
            HostResult("at1", HostRollback("at1", ()), failure="the deploy lock is held by x",
                       lock_holder="x")]


def test_the_document_holds_to_its_schema():
    doc = document(_results(), "inventory.py", None, False)
    assert schema_problems(doc, load("rollback")) == []
    assert doc["exit_code"] == 1
    assert doc["hosts"]["aitbc"]["apps"] == [{"app": "coordinator-api", "from": "r2", "to": "r1",
                                              "result": "ok"}]
    assert doc["hosts"]["ns3-aitbc"]["apps"][0]["result"] == "failed"
    ok = document(_results()[:1], "inventory.py", "r1", True)
    assert schema_problems(ok, load("rollback")) == [] and ok["exit_code"] == 0
    text = summary(_results())
    assert "1 of 3" not in text and "2 of 3 host(s) failed: ns3-aitbc, at1" in text
    assert "ok       aitbc        coordinator-api r2 -> r1 (3.1 s)" in text


def test_the_command_runs_each_host_and_exits_1_when_one_failed(fleet, monkeypatch, capsys):
    """cmd_rollback end to end with every host reached through a stand-in: the read answers
    with kept releases, the locked session as a host whose gate failed (aitbc) or passed."""
    def reach(inventory):
        return {node: ["ssh", node] for node in fleet.hosts}

    def read_runner(argvs, timeout):
        def run(node, line):
            out = ("now\t1\nlive\t/opt/coordinator-api\treleases/r2\n"
                   "release\t/opt/coordinator-api\t1\t10\t100\tr1\n"
                   "release\t/opt/coordinator-api\t1\t10\t200\tr2\n")
            return subprocess.CompletedProcess([], 0, out, "")
        return run

    def fake_session(argv, command, say, line_for):
        status = 1 if argv == ["ssh", "aitbc"] else 0  # aitbc's gate fails
        output = ["healthy after 1.0s", f"{APP_END}0 {status}"]
        for line in output:
            say(line)
        assert json.loads(line_for(output, 2.0))["result"] == ("failed" if status else "ok")
        return "locked", output, None

    monkeypatch.setattr(rollback_command, "runner", read_runner)
    monkeypatch.setattr(rollback_command, "session", fake_session)
    args = SimpleNamespace(apps=["coordinator-api"], all=False, to=None, message=None,
                           inventory=Path(INVENTORY), host=None, json=True, restore_data=False)
    assert rollback_command.cmd_rollback(args, reach=reach) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert schema_problems(doc, load("rollback")) == []
    assert set(doc["hosts"]) == {"aitbc", "ns3-aitbc"}
    assert sorted(h["result"] for h in doc["hosts"].values()) == ["failed", "ok"]
    assert "coordinator-api: r2 -> kept release r1" in err and "--> Rollback: 1 of 2" in err


# What the deploy and status make of it --------------------------------------------------------------


def _deploy_decision(fleet, live: str | None, record: bool, keep: bool = False):
    spec = fleet.hosts["aitbc"]
    plan = host_plan(fleet, spec)
    data = {a.name: "r9" for a in spec.apps}
    state = converged(spec, plan, data)
    app = next(a for a in spec.apps if a.name == "coordinator-api")
    if live:
        state.paths[app.venv] = PathState("l", "0777", "root", "root", f"releases/{live}")
        state.paths[release_marker(app.releases, live)] = PathState("f", "0644", "root", "root", "x")
    if record:
        state.paths[app.rollback_record] = PathState("f", "0644", "root", "root", "x")
    rolled = rollbacks(spec, state, data, keep)
    releases = {**data, **{a: r.live for a, r in rolled.items() if r.kept}}
    return decide(spec, plan, state, releases, rolled)


def test_the_next_deploy_reports_the_rollback_and_puts_the_data_release_back(fleet):
    decision = _deploy_decision(fleet, "r1", record=True)
    assert decision.lines()[0] == ("coordinator-api on aitbc: live release r1 was rolled back; "
                                   "putting the data's release r9 back")
    owed = decision.apps["coordinator-api"].units[0]
    assert owed.action == RESTART and owed.reasons == ("rolled-back release releases/r1 -> "
                                                       "releases/r9",)
    assert decision.notes() == []
    assert decision.as_dict()["rollbacks"] == [{"app": "coordinator-api", "live": "r1",
                                                "data": "r9", "kept": False}]
    # Not rolled back (no record): a release change like any other, said as before.
    plain = _deploy_decision(fleet, "r1", record=False)
    assert plain.rollbacks == {} and plain.apps["coordinator-api"].units[0].reasons == (
        "release releases/r1 -> releases/r9",)


def test_keep_rollbacks_leaves_the_app_on_its_release_and_says_so_as_no_drift(fleet):
    decision = _deploy_decision(fleet, "r1", record=True, keep=True)
    assert "coordinator-api" not in decision.apps and decision.lines() == []
    assert decision.notes() == ["coordinator-api on aitbc: live release r1 was rolled back; left "
                                "on it (--keep-rollbacks), the data's release is r9"]
    # A dry run with only a note: nothing would change (exit 0), the note repeated.
    log = ("    [aitbc]     Connected\n    [aitbc]     note: " + decision.notes()[0] + "\n")
    results = run_results(json.dumps({"plan": [], "results": None}), log,
                          {"aitbc": {"node": "aitbc", "decision": decision.as_dict()}})
    row, = outcomes(results)
    assert not row.changes and row.notes == decision.notes()
    assert "note: coordinator-api on aitbc: live release r1" in summary_text(results)


def test_a_record_left_on_the_data_release_is_removed_without_a_restart(fleet):
    decision = _deploy_decision(fleet, "r9", record=True)
    assert decision.lines() == ["coordinator-api on aitbc: live release r9 was rolled back to "
                                "the data's release; its rollback record is removed"]
    assert "coordinator-api" not in decision.apps
    # Kept or not, there is nothing to keep it on.
    assert not _deploy_decision(fleet, "r9", record=True, keep=True).rollbacks["coordinator-api"].kept


def test_the_deploy_reads_each_record_and_diff_never_sees_one(fleet):
    spec = fleet.hosts["aitbc"]
    plan = host_plan(fleet, spec)
    assert {f"{a.root}/{ROLLBACK_RECORD}" for a in spec.apps} <= set(plan.paths)
    state = converged(spec, plan, {a.name: "r1" for a in spec.apps})
    assert not any(p.endswith(ROLLBACK_RECORD) for p in state.paths)


def test_status_shows_the_rollback_and_names_it():
    record = Record("r1", "r2", "r2", "ops@ci", "2026-03-01T12:00:00Z", None)
    status = _host(live="r1", record=record)
    found = [f"{p.what}: {p.why}" for p in problems(status) if p.what.startswith("app ")]
    assert found == [("app coordinator-api: rolled back to r1 by ops@ci at "
                         "2026-03-01T12:00:00Z; the data's release is r2: the next deploy puts "
                         "the data's release back (deploy --keep-rollbacks leaves it)")]
    doc = status_doc([status], problems(status), "inventory.py")
    assert schema_problems(doc, load("status")) == []
    assert doc["hosts"]["aitbc"]["apps"][0]["rollback"] == record.document()
    unreadable = replace(_app(), rollback_unreadable="not JSON (x)")
    said = [p.why for p in problems(HostStatus("aitbc", apps=[unreadable]))
            if p.what.startswith("app ")]
    assert said == [f"its rollback record /opt/coordinator-api/{ROLLBACK_RECORD} is unreadable: "
                    "not JSON (x)"]


def test_the_help_says_the_restore_has_an_outage():
    done = subprocess.run([sys.executable, "-m", "aitbc_infra", "rollback", "--help"],
                          capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    text = " ".join(done.stdout.split())
    assert "an OUTAGE of the app until its gate passes" in text and "schemas/rollback.json" in text
