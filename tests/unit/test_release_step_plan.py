"""Release steps: an app's one-shot commands bound to a release (a database migration), run
in the new release before it goes live. What the model refuses (naming host, field and value),
what renders (a oneshot template unit hardened as its service, the release mounted at the
venv's path), what `check` finds, what a run owes for them and why, what activate-release.sh
is handed, and what it does with them, for real against stub systemctl and journalctl: the
data snapshotted before the first step, the steps before any candidate, a failing step ends
the run naming it and its exit status with nothing running touched.

The production data declares no step: each test adds one to the exchange app on aitbc, which
runs the payload's apps/trade-exchange/migrate.py.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import sqlite3
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from unit_helpers import absent, build_fleet, content, decision_after, link, present

from aitbc_infra import PROJECT_ROOT, release_activation
from aitbc_infra.activation import Load
from aitbc_infra.checks import check_units
from aitbc_infra.decision import NOTHING, RolledBack
from aitbc_infra.docs import render_docs
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.history import changes, encode
from aitbc_infra.history_command import changed
from aitbc_infra.host_names import DATA_SNAPSHOT_DIR, PENDING_DIR, SCRIPT_ARGUMENTS
from aitbc_infra.host_scripts import script
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet
from aitbc_infra.sources import check_sources
from deploys.journal import add_command

HOST = "aitbc"
APP = "exchange"
API = "aitbc-exchange-api"
TEMPLATE = f"{API}-step-migrate"
STEP_FILE = f"/etc/systemd/system/{TEMPLATE}@.service"
API_UNIT = f"/etc/systemd/system/{API}.service"
API_ENV = f"/etc/aitbc/{API}.env"
API_SOCKET = f"/etc/systemd/system/{API}.socket"
MIGRATE = {"name": "migrate", "command": ["migrate.py"], "workdir": "apps/trade-exchange"}


@cache
def _base() -> tuple[tuple[str, tuple[str, ...], dict], ...]:
    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    return tuple((spec.name, tuple(spec.groups), spec.model_dump(exclude={"name", "groups", "role"}))
                 for spec in fleet.hosts.values())


def _index(data: dict, app: str) -> int:
    return next(i for i, a in enumerate(data["apps"]) if a["name"] == app)


def _hosts(edit) -> list[tuple[str, list[str], dict]]:
    hosts = []
    for name, groups, data in _base():
        data = copy.deepcopy(data)
        if data["node"] == HOST:
            edit(data)
        hosts.append((name, list(groups), data))
    return hosts


def _with_steps(*steps: dict, app: str = APP):
    def edit(data: dict) -> None:
        data["apps"][_index(data, app)]["steps"] = [copy.deepcopy(s) for s in steps]
    return edit


@cache
def fleet_with(*steps: str) -> Fleet:
    """The production fleet with the exchange app's steps given as JSON (hashable)."""
    return build_fleet(_hosts(_with_steps(*(json.loads(s) for s in steps))))


def migrate_fleet() -> Fleet:
    return fleet_with(json.dumps(MIGRATE))


def _refused(edit) -> list[str]:
    with pytest.raises(ModelError) as info:
        build_fleet(_hosts(edit))
    return [str(p) for p in info.value.problems]


# The model: what a step may be ------------------------------------------------------------------


def _step(**fields) -> dict:
    return {**MIGRATE, **fields}


# (case, the app's steps or an edit of aitbc's data, the field after the app's path, what the
# problem says). Each problem also names the host; a value, where one is refused, is shown.
REFUSED = [
    ("name with a dash", [_step(name="db-migrate")], ".steps[0].name",
     ["not a valid step name", "'db-migrate'"]),
    ("name candidate", [_step(name="candidate")], ".steps[0].name", ["not 'candidate'"]),
    ("name upper-case", [_step(name="Migrate")], ".steps[0].name", ["'Migrate'"]),
    ("names repeat", [_step(), _step(command=["-m", "x"])], "", ["step names repeat",
                                                                  "['migrate', 'migrate']"]),
    ("command as a string", [_step(command="migrate.py")], ".steps[0].command",
     ["valid list", "(value 'migrate.py')"]),
    ("no command", [_step(command=[])], ".steps[0].command", ["at least 1 item"]),
    ("an argument with a quote", [_step(command=["-c", 'print("x")'])], ".steps[0].command[1]",
     ["'\"' is not allowed in a step's argument", "end the argument's quotes"]),
    ("an argument with a variable", [_step(command=["-c", "$DATABASE_URL"])],
     ".steps[0].command[1]", ["'$' is not allowed", "a secret belongs in env"]),
    ("an argument with a specifier", [_step(command=["%h/run.py"])], ".steps[0].command[0]",
     ["'%' is not allowed", "specifier"]),
    ("an argument with a backslash", [_step(command=["a\\nb"])], ".steps[0].command[0]",
     ["'\\\\' is not allowed", "escape"]),
    ("an argument with a newline", [_step(command=["run.py\nExecStartPre=/bin/sh"])],
     ".steps[0].command[0]", ["control characters"]),
    ("a placeholder a step cannot fill", [_step(command=["run.py", "{port}"])],
     ".steps[0].command[1]", ["unknown placeholder {port}: a step's argument takes {root}, "
                              "{url:UNIT}", "(value '{port}')"]),
    ("a database URL", [_step(command=["migrate.py", "--db", "{postgresql:exchange}"])],
     ".steps[0].command[2]", ["{postgresql:exchange} is a URL for the app's env, never its "
                              "command", "holds its role's password"]),
    ("redis", [_step(command=["migrate.py", "{redis}"])], ".steps[0].command[1]",
     ["{redis} is a URL for the app's env, never its command"]),
    ("a url to no service", [_step(command=["run.py", "{url:nowhere}"])],
     ".steps[0].command[1]", ["{url:nowhere} names no service with a port on this host"]),
    ("an unknown service", [_step(service="aitbc-nowhere")], "",
     ["step migrate: service 'aitbc-nowhere' is none of the app's ['aitbc-exchange-api']"]),
    ("a service of another app", [_step(service="coordinator-api")], "",
     ["service 'coordinator-api' is none of the app's"]),
    ("workdir outside the trees", [_step(workdir="apps/elsewhere")], "",
     ["step migrate: workdir 'apps/elsewhere' is neither a data dir ['data'] nor in the app's "
      "trees ['apps/trade-exchange']"]),
    ("workdir climbing out", [_step(workdir="../etc")], ".steps[0].workdir",
     ["not a path under the source root"]),
    ("timeout of zero", [_step(timeout_seconds=0)], ".steps[0].timeout_seconds",
     ["greater than or equal to 1", "(value 0)"]),
    ("timeout above an hour", [_step(timeout_seconds=3601)], ".steps[0].timeout_seconds",
     ["less than or equal to 3600"]),
    ("timeout as a boolean", [_step(timeout_seconds=True)], ".steps[0].timeout_seconds",
     ["valid integer", "(value True)"]),
    ("timeout as text", [_step(timeout_seconds="60")], ".steps[0].timeout_seconds",
     ["valid integer"]),
    ("an unknown field", [_step(before="cutover")], ".steps[0].before",
     ["Extra inputs are not permitted"]),
    ("too many steps", [_step(name=f"s{i}") for i in range(17)], ".steps",
     ["at most 16 items"]),
]


@pytest.mark.parametrize(("steps", "field", "says"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_a_bad_step_is_refused_naming_host_field_and_value(steps, field, says):
    data = copy.deepcopy(next(d for _, _, d in _base() if d["node"] == HOST))
    where = f"apps[{_index(data, APP)}]{field}"
    problems = _refused(_with_steps(*steps))
    named = [p for p in problems
             if re.match(rf"host {HOST}( \[groups: [^]]*\])?: {re.escape(where)}: ", p)]
    assert named, problems
    assert any(all(s in p for s in says) for p in named), named


def test_an_app_of_several_services_names_the_one_whose_env_a_step_reads():
    step = {"name": "schema", "command": ["-m", "aitbc_chain.database"]}
    problems = _refused(_with_steps(step, app="blockchain-node"))
    assert any("app blockchain-node: step schema: name the service whose env file it reads "
               "('service'), one of ['aitbc-blockchain-schema-1', 'aitbc-blockchain-node-1', "
               "'aitbc-blockchain-rpc-1']" in p for p in problems), problems
    fleet = build_fleet(_hosts(_with_steps({**step, "service": "aitbc-blockchain-rpc-1"},
                                           app="blockchain-node")))
    app = next(a for a in fleet.hosts[HOST].apps if a.name == "blockchain-node")
    assert app.step_service(app.steps[0]).unit == "aitbc-blockchain-rpc-1"


def test_a_good_step_loads_with_its_defaults():
    app = next(a for a in migrate_fleet().hosts[HOST].apps if a.name == APP)
    step, = app.steps
    assert (step.name, step.command, step.timeout_seconds, step.service) == (
        "migrate", ["migrate.py"], 300, None)
    assert app.step_service(step).unit == API  # the app's one service
    assert app.step_workdir(step) == "/opt/exchange/.venv/src/apps/trade-exchange"
    # Without a workdir of its own: its service's (the exchange API runs in its data dir).
    bare = app.model_copy(update={"steps": [step.model_copy(update={"workdir": None})]})
    assert bare.step_workdir(bare.steps[0]) == "/opt/exchange/data"


# What renders -------------------------------------------------------------------------------------


def _files(fleet: Fleet) -> dict:
    return {f.path: f for f in render_fleet(fleet)[HOST]}


def _values(text: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", text, re.M)


def _hardening(text: str) -> str:
    return text.split("# Hardening", 1)[1].split("\n[Install]", 1)[0].rstrip("\n")


def test_the_step_is_a_oneshot_template_hardened_as_its_service():
    files = _files(migrate_fleet())
    step, api = files[STEP_FILE], files[API_UNIT]
    unit = step.content
    assert (step.kind, step.unit, step.mode, step.activation) == ("step", API, "0644", Load(APP))
    assert _values(unit, "Type") == ["oneshot"]
    assert _values(unit, "RemainAfterExit") == [] and _values(unit, "Restart") == []
    assert "[Install]" not in unit  # nothing starts it but the deploy, for one release
    for key in ("User", "Group", "ReadWritePaths", "ProtectHome", "UMask"):
        assert _values(unit, key) == _values(api.content, key), key
    # Its service's env file: the settings and secrets the API gets (DATABASE_URL among them).
    assert _values(unit, "EnvironmentFile") == [API_ENV] == _values(api.content, "EnvironmentFile")
    # The new release, at the venv's path for this unit alone: its python, its sources.
    assert _values(unit, "BindReadOnlyPaths") == ["/opt/exchange/releases/%i:/opt/exchange/.venv"]
    assert _values(unit, "WorkingDirectory") == ["/opt/exchange/.venv/src/apps/trade-exchange"]
    assert _values(unit, "ExecStart") == ['/opt/exchange/.venv/bin/python "migrate.py"']
    assert _values(unit, "TimeoutStartSec") == ["300s"] and _values(unit, "TimeoutStopSec") == ["10s"]
    assert _values(unit, "Description") == ["AITBC exchange API (step migrate of release %i)"]
    # The same hardening block, line for line, as the exchange API's.
    assert _hardening(unit) == _hardening(api.content)
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "CapabilityBoundingSet=", "SystemCallFilter=@system-service",
                 "MemoryDenyWriteExecute=yes", "PrivateDevices=yes"):
        assert f"\n{line}\n" in unit


def test_each_argument_is_one_word_with_its_placeholders_filled():
    words = ["-c", "import sys; print(sys.argv[1:])", "it's", ";", "", "{root}/data",
             "{url:coordinator-api}/v1"]
    unit = _files(fleet_with(json.dumps(_step(command=words, timeout_seconds=45))))[STEP_FILE]
    exec_start, = _values(unit.content, "ExecStart")
    assert exec_start == ('/opt/exchange/.venv/bin/python "-c" "import sys; print(sys.argv[1:])" '
                          '"it\'s" ";" "" "/opt/exchange/data" "http://127.0.0.1:8000/v1"')
    assert _values(unit.content, "TimeoutStartSec") == ["45s"]
    # As systemd splits it (its quoting is the shell's for these words): one word each.
    assert shlex.split(exec_start)[1:] == [
        "-c", "import sys; print(sys.argv[1:])", "it's", ";", "", "/opt/exchange/data",
        "http://127.0.0.1:8000/v1"]


def test_a_step_waits_for_the_database_its_env_points_at_as_its_service_does():
    """The pool hub's env holds its PostgreSQL URL ({postgresql:...}): its step, reading the
    same env file, is ordered after the same packaged services, and so wants them up."""
    example = PROJECT_ROOT / "examples" / "pool-hub" / "inventory.py"
    hosts = []
    for spec in load_fleet(example).hosts.values():
        data = spec.model_dump(exclude={"name", "groups", "role"})
        if spec.node == "at1-pool":
            data["apps"][0]["steps"] = [{"name": "migrate", "command": ["-m", "pool_hub.migrate"]}]
        hosts.append((spec.name, list(spec.groups), data))
    fleet = build_fleet(hosts)
    svc = fleet.hosts["at1-pool"].apps[0].services[0]
    files = {f.path: f.content for f in render_fleet(fleet)["at1-pool"]}
    step = files[f"/etc/systemd/system/{svc.unit}-step-migrate@.service"]
    unit = files[f"/etc/systemd/system/{svc.unit}.service"]
    packaged = _values(step, "Wants")[0].split()[1:]
    assert packaged and any(u.startswith("postgresql") for u in packaged), step
    assert _values(step, "Wants") == _values(unit, "Wants")
    assert _values(step, "After") == [" ".join(["network-online.target", *packaged])]
    assert set(packaged) <= set(_values(unit, "After")[0].split())


def test_the_step_passes_the_offline_checks_with_its_service():
    fleet = migrate_fleet()
    ours = [f for f in render_fleet(fleet)[HOST] if f.unit == API]
    assert STEP_FILE in {f.path for f in ours}
    # One check of the API's files, its step's template among them.
    [verified] = check_units(fleet.hosts[HOST], ours)
    assert verified.ok and verified.check.startswith("systemd-analyze verify "), verified
    broken = [replace(f, content=f.content.replace("Type=oneshot", "Type=oneshot-ish"))
              if f.path == STEP_FILE else f for f in ours]
    [result] = check_units(fleet.hosts[HOST], broken)
    assert not result.ok and "oneshot-ish" in result.detail


def test_production_renders_no_step_and_the_docs_list_them():
    assert not [f for files in render_fleet(load_fleet(PROJECT_ROOT / "inventory.py")).values()
                for f in files if f.kind == "step"]
    assert "## Release steps" not in render_docs(load_fleet(PROJECT_ROOT / "inventory.py"))
    row = next(line for line in render_docs(migrate_fleet()).splitlines()
               if "`migrate.py`" in line)
    assert row == f"| {HOST} | {APP} | migrate | `{TEMPLATE}@.service` | `migrate.py` | 300 s |"


# check: the script a step runs, in the release ----------------------------------------------------


def test_check_finds_the_script_of_a_step_and_names_one_the_release_lacks(data, payload_copy):
    field, app = data.app("aitbc_container", APP)
    app["steps"] = [MIGRATE]
    assert check_sources(data.load()) == []
    (payload_copy / "apps" / "trade-exchange" / "migrate.py").unlink()
    problems = [str(p) for p in check_sources(data.load())]
    assert any(f"host {HOST}: " in p and f"{field}.steps[0].command (step migrate): script "
               "'migrate.py' (workdir 'apps/trade-exchange')" in p
               and "apps/trade-exchange/migrate.py is not in the release: the tree "
               "'apps/trade-exchange' holds no 'migrate.py'" in p for p in problems), problems


def test_check_reads_a_steps_script_from_its_services_workdir(data, payload_copy):
    # No workdir of its own: the API's, its data dir, where nothing of the release lies.
    _, app = data.app("aitbc_container", "trade-exchange")
    app["steps"] = [{"name": "prepare", "command": ["-u", "nowhere.py"]}]
    problems = [str(p) for p in check_sources(data.load())]
    assert any("steps[0].command (step prepare): script 'nowhere.py' (workdir "
               "'apps/trade-exchange')" in p for p in problems), problems


# What a run owes ----------------------------------------------------------------------------------


RUN = f"run step migrate of {APP} ({TEMPLATE}@)"
RELEASE = "release releases/r0 -> releases/r1"
# (case, the edits of the converged state, the lines the run prints)
OWED = [
    ("nothing", [], []),
    ("new release", [link("/opt/exchange/.venv", "releases/r0")],
     [f"{RUN}: {RELEASE}", f"restart {API}: {RELEASE}"]),
    ("first release", [absent("/opt/exchange/.venv")],
     [f"{RUN}: first release releases/r1", f"restart {API}: first release releases/r1"]),
    # DATABASE_URL (or any of its settings) changed: the database it points at is migrated
    # before the API restarts onto it.
    ("the env file it reads", [content(API_ENV)],
     [f"{RUN}: {API_ENV} changed", f"restart {API}: {API_ENV} changed"]),
    ("its own unit file", [content(STEP_FILE)],
     [f"load the units of {APP}: {STEP_FILE} changed", f"{RUN}: {STEP_FILE} changed"]),
    ("a new step", [absent(STEP_FILE)],
     [f"load the units of {APP}: {STEP_FILE} added", f"{RUN}: {STEP_FILE} added"]),
    ("an unfinished run", [present(f"{PENDING_DIR}/app-{APP}")],
     [f"load the units of {APP}: journal app-{APP} left pending by an unfinished run",
      f"{RUN}: journal app-{APP} left pending by an unfinished run"]),
    # What the step does not read: nothing for it.
    ("the API's own unit file", [content(API_UNIT)], [f"restart {API}: {API_UNIT} changed"]),
    ("the API's socket", [content(API_SOCKET)],
     [f"restart {API}.socket and {API}: {API_SOCKET} changed"]),
    ("another app's release", [link("/opt/trade-exchange/.venv", "releases/r0")],
     [f"restart aitbc-trade-exchange: {RELEASE}"]),
]


@pytest.mark.parametrize(("edits", "lines"), [c[1:] for c in OWED], ids=[c[0] for c in OWED])
def test_what_a_run_owes_for_a_step_and_why(edits, lines):
    assert decision_after(migrate_fleet(), HOST, edits).lines() == lines


def test_a_release_kept_by_a_rollback_runs_no_step():
    """deploy --keep-rollbacks leaves the app on the release a rollback put back: that release
    is the one activated (its units' files converge), and nothing of it is migrated again."""
    rolled = {APP: RolledBack(APP, HOST, "r0", "r1", kept=True)}
    decision = decision_after(migrate_fleet(), HOST, [link("/opt/exchange/.venv", "releases/r0")],
                              releases={APP: "r0"}, rolled=rolled)
    assert APP not in decision.apps


def test_the_decision_as_data_lists_the_steps():
    owed = decision_after(migrate_fleet(), HOST, [link("/opt/exchange/.venv", "releases/r0")]).as_dict()
    assert owed["steps"] == [{"app": APP, "step": "migrate", "unit": TEMPLATE,
                              "reasons": [RELEASE]}]
    assert owed["lines"][0] == f"{RUN}: {RELEASE}"


def test_the_history_line_says_which_steps_the_run_set_out_to_run():
    decision = decision_after(migrate_fleet(), HOST, [link("/opt/exchange/.venv", "releases/r0")])
    line = changes(decision, {APP: "r0"}, {APP: "r1"})
    assert line["steps"] == [{"app": APP, "step": "migrate", "unit": TEMPLATE,
                              "reasons": [RELEASE]}]
    assert changed({"changes": line}) == [f"{APP} r0 -> r1", f"restart {API}",
                                          f"run step migrate of {APP}"]
    # One byte too long: the reasons go first, the step stays.
    whole = encode({"changes": line})
    cut = json.loads(encode({"changes": line}, limit=len(whole)))
    assert cut["changes"]["truncated"] and not cut["changes"]["restarts"][0].get("reasons")
    assert cut["changes"]["steps"] == [{"app": APP, "step": "migrate", "unit": TEMPLATE}]


# What activate-release.sh is handed ---------------------------------------------------------------


def _own_arguments(command: str) -> list[str]:
    """activate-release's own arguments in a command line of host_scripts.script."""
    words = shlex.split(command)
    return words[words.index("activate-release") + 1 + len(SCRIPT_ARGUMENTS):]


def test_the_activation_is_handed_the_owed_steps_after_the_data():
    fleet = migrate_fleet()
    spec = fleet.hosts[HOST]
    app = next(a for a in spec.apps if a.name == APP)
    owed = decision_after(fleet, HOST, [link("/opt/exchange/.venv", "releases/r0")]).apps[APP]
    assert release_activation.steps_argument(owed) == f"migrate={TEMPLATE}"
    args = _own_arguments(release_activation.activate_command(fleet, spec, app, "r1", owed, "true"))
    assert args[8:11] == ["exchange=sqlite=/opt/exchange/data/exchange.db", f"migrate={TEMPLATE}",
                          API]
    # Owed nothing (an unrelated file): the argument is there, empty.
    owed = decision_after(fleet, HOST, [content(API_UNIT)]).apps[APP]
    assert not owed.steps and {u.action for u in owed.units} != {NOTHING}
    args = _own_arguments(release_activation.activate_command(fleet, spec, app, "r1", owed, "true"))
    assert args[9] == "" and args[10] == API


# activate-release.sh, for real against stub systemctl and journalctl --------------------------

# systemctl: each call logged; `start UNIT` of a step runs what STEPS says of UNIT (its exit
# status, systemd's result, what it prints, SQL run on the app's database) and answers as
# systemctl does for a oneshot unit (0 once it ended well, 1 else); `show -p Result` and
# `-p ExecMainStatus` read back its last run; every other unit runs. journalctl prints what
# the step printed. curl: every URL answers 200.
_STUB = """import json, os, sqlite3, sys
name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
steps = json.loads(os.environ.get("STEPS", "{}"))
runs = os.environ["STEP_RUNS"]
last = json.load(open(runs)) if os.path.exists(runs) else {}
if name == "systemctl" and args[:1] == ["start"] and args[-1] in steps:
    step = steps[args[-1]]
    with open(os.environ["STUB_LOG"], "a") as log:  # whether the snapshot was there first
        log.write(json.dumps(["snapshot?", os.path.exists(os.environ["WATCH"])]) + "\\n")
    if step.get("sql"):
        with sqlite3.connect(os.environ["DATABASE"]) as db:
            db.execute(step["sql"])
    last[args[-1]] = step
    json.dump(last, open(runs, "w"))
    sys.exit(0 if step["result"] == "success" else 1)
if name == "systemctl" and args[:3] == ["show", "-p", "ActiveState"]:
    print("active")
elif name == "systemctl" and args[:2] == ["show", "-p"] and args[-1] in last:
    print({"Result": last[args[-1]]["result"],
           "ExecMainStatus": last[args[-1]]["status"]}.get(args[2], ""))
if name == "journalctl" and "-u" in args and args[args.index("-u") + 1] in last:
    print(last[args[args.index("-u") + 1]]["output"])
if name == "curl" and "-w" in args:
    print("200", end="")
"""

STEP_UNIT = f"{TEMPLATE}@r1.service"
GOOD = {"status": 0, "result": "success", "output": "exchange schema: migration 2 applied",
        "sql": "ALTER TABLE trades ADD COLUMN fee REAL NOT NULL DEFAULT 0"}
FAILING = {"status": 1, "result": "exit-code",
           "output": "exchange schema: migration 2 failed, none of it applied: no such table"}
TIMED_OUT = {"status": 15, "result": "timeout", "output": "exchange schema: migrating..."}
API_SPEC = (API, "restart", "yes", "no", "http://x/api/health", "http://127.0.0.1:28085/api/health",
            "-")


class Host:
    """An app root with releases r0 (live) and r1 (new), a database in its data dir, a unit
    file journaled by the run, and the stubs."""

    def __init__(self, tmp: Path):
        self.tmp, self.root, self.pending = tmp, tmp / "app", tmp / "pending"
        (self.root / "releases" / "r0").mkdir(parents=True)
        (self.root / "releases" / "r1").mkdir()
        (self.root / ".venv").symlink_to("releases/r0")
        (self.root / "data").mkdir()
        self.database = self.root / "data" / "exchange.db"
        with sqlite3.connect(self.database) as db:
            db.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, amount REAL)")
            db.execute("INSERT INTO trades (amount) VALUES (1.5)")
        # The run wrote a new unit file (its step's), its previous one kept by the journal.
        self.unit_file = tmp / f"{TEMPLATE}@.service"
        self.unit_file.write_text("previous\n")
        assert subprocess.run(["/bin/sh", "-c", add_command("app-x", str(self.unit_file),
                                                            str(self.pending))]).returncode == 0
        self.unit_file.write_text("new\n")
        stubs = tmp / "stubs"
        stubs.mkdir()
        for name in ("systemctl", "curl", "journalctl"):
            (stubs / name).write_text(f"#!{sys.executable}\n{_STUB}")
            (stubs / name).chmod(0o755)
        self.env = {"PATH": f"{stubs}:/usr/bin:/bin", "STUB_LOG": str(tmp / "calls.jsonl"),
                    "STEP_RUNS": str(tmp / "runs.json"), "DATABASE": str(self.database),
                    "WATCH": str(self.root / "releases" / "r0" / DATA_SNAPSHOT_DIR / "manifest")}

    def run(self, steps: dict[str, dict], *units: str, step_names: str | None = None,
            data: str | None = None) -> tuple[subprocess.CompletedProcess, list]:
        (self.tmp / "calls.jsonl").unlink(missing_ok=True)
        if data is None:
            data = f"exchange=sqlite={self.database}"
        if step_names is None:
            step_names = " ".join(f"{u.split('-step-')[1].split('@')[0]}={u.split('@')[0]}"
                                  for u in steps)
        command = script("activate-release", str(self.pending), str(self.root), "r1", "3", "2",
                         "app-x", "true", sys.executable, data, step_names, *units)
        result = subprocess.run(["/bin/sh", "-c", command], cwd=self.tmp, capture_output=True,
                                text=True, env={**self.env, "STEPS": json.dumps(steps)})
        log = self.tmp / "calls.jsonl"
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return result, calls

    def live(self) -> str:
        return str((self.root / ".venv").readlink())

    def columns(self, path: Path | None = None) -> list[str]:
        with sqlite3.connect(path or self.database) as db:
            return [row[1] for row in db.execute("PRAGMA table_info(trades)")]


@pytest.fixture
def host(tmp_path) -> Host:
    return Host(tmp_path)


def _index_of(calls: list, call: list) -> int:
    return calls.index(call)


def test_a_step_runs_in_the_new_release_after_the_snapshot_and_before_any_candidate(host):
    result, calls = host.run({STEP_UNIT: GOOD}, *API_SPEC)
    assert result.returncode == 0, result.stderr
    # The snapshot was taken before the step's first write: it holds the data of before.
    assert ["snapshot?", True] in calls
    kept = host.root / "releases" / "r0" / DATA_SNAPSHOT_DIR / "exchange.sqlite"
    assert host.columns(kept) == ["id", "amount"]
    assert host.columns() == ["id", "amount", "fee"]  # the step's own write
    # The step, run to its end, then the candidate (proven against the migrated data), then
    # the cutover.
    step = _index_of(calls, ["systemctl", "start", STEP_UNIT])
    candidate = _index_of(calls, ["systemctl", "start", f"{API}-candidate@r1.socket",
                                  f"{API}-candidate@r1.service"])
    restart = _index_of(calls, ["systemctl", "restart", API])
    assert step < candidate < restart
    assert [c for c in calls if c[:2] == ["systemctl", "start"] and "-step-" in c[-1]] == [
        ["systemctl", "start", STEP_UNIT]]  # once
    assert f"  migrate: {GOOD['output']}" in result.stdout  # its output, shown
    assert re.search(rf"step migrate done in [0-9.]+s \({re.escape(STEP_UNIT)}\)", result.stdout)
    assert host.live() == "releases/r1"
    assert host.unit_file.read_text() == "new\n" and not (host.pending / "app-x").exists()


@pytest.mark.parametrize(("step", "says"), [
    (FAILING, f"{STEP_UNIT} exited with status 1 (systemd result: exit-code)"),
    (TIMED_OUT, f"{STEP_UNIT} did not end within its timeout (systemd result: timeout)"),
], ids=["exit status", "timeout"])
def test_a_failing_step_fails_the_run_naming_it_and_touches_nothing_running(host, step, says):
    result, calls = host.run({STEP_UNIT: step}, *API_SPEC)
    assert result.returncode == 1
    assert (f"ERROR: release step migrate of {host.root} failed: {says}; release r1 never went "
            "live (release, unit and env files unchanged, no running unit touched)") in result.stderr
    assert step["output"] in result.stderr  # what the step said, before the error
    # Nothing running touched: no candidate, no restart, no switch; the old files back.
    assert not [c for c in calls if c[0] == "systemctl" and c[1] in ("restart", "stop", "enable")
                and c[-1] != STEP_UNIT]
    assert [c for c in calls if c[:2] == ["systemctl", "start"]] == [
        ["systemctl", "start", STEP_UNIT]]
    assert host.live() == "releases/r0"
    assert host.unit_file.read_text() == "previous\n" and not (host.pending / "app-x").exists()
    assert ["systemctl", "daemon-reload"] in calls
    # Its failure read, its end waited for (a step past its timeout may still be stopping),
    # then forgotten: no failed unit left behind.
    result_read = _index_of(calls, ["systemctl", "show", "-p", "Result", "--value", STEP_UNIT])
    assert calls[result_read + 2:result_read + 4] == [["systemctl", "stop", STEP_UNIT],
                                                      ["systemctl", "reset-failed", STEP_UNIT]]
    assert host.columns() == ["id", "amount"]


def test_steps_run_in_order_and_the_first_failing_ends_the_run(host):
    second = f"{API}-step-seed@r1.service"
    third = f"{API}-step-index@r1.service"
    result, calls = host.run({STEP_UNIT: GOOD, second: FAILING, third: GOOD}, *API_SPEC)
    assert result.returncode == 1 and f"ERROR: release step seed of {host.root} failed" in result.stderr
    started = [c[-1] for c in calls if c[:2] == ["systemctl", "start"]]
    assert started == [STEP_UNIT, second]  # never the third
    # The first step's write stays (a failed run puts the files back, not the data: the
    # snapshot of before it is kept with the live release for restore-data.sh).
    assert host.columns() == ["id", "amount", "fee"] and host.live() == "releases/r0"


def test_a_candidate_failing_after_the_steps_says_their_writes_stay(host):
    (host.tmp / "stubs" / "curl").write_text("#!/bin/sh\nexit 7\n")  # never healthy
    result, _ = host.run({STEP_UNIT: GOOD}, *API_SPEC)
    assert result.returncode == 1
    assert ("as a candidate of release r1" in result.stderr
            and "(after its release steps: migrate, whose writes to the data stay)" in result.stderr)
    assert host.live() == "releases/r0"


def test_a_step_owed_for_the_same_release_takes_no_snapshot(host):
    """An env file it reads changed, the release did not: there is no outgoing release to
    keep a snapshot with."""
    (host.root / ".venv").unlink()
    (host.root / ".venv").symlink_to("releases/r1")
    result, calls = host.run({STEP_UNIT: GOOD}, *API_SPEC)
    assert result.returncode == 0, result.stderr
    assert ["snapshot?", False] in calls
    assert not (host.root / "releases" / "r0" / DATA_SNAPSHOT_DIR).exists()
    assert not (host.root / "releases" / "r1" / DATA_SNAPSHOT_DIR).exists()


def test_an_app_of_jobs_runs_its_steps_before_its_switch(host):
    result, calls = host.run({STEP_UNIT: GOOD}, "job.timer", "none", "no", "no", "-", "-", "-")
    assert result.returncode == 0, result.stderr
    assert ["systemctl", "start", STEP_UNIT] in calls and host.live() == "releases/r1"
    assert "switched to release r1, no unit restarted" in result.stdout
    host.run({}, "job.timer", "none", "no", "no", "-", "-", "-")  # back to r1: nothing
    result, calls = host.run({STEP_UNIT: FAILING}, "job.timer", "none", "no", "no", "-", "-", "-")
    # r1 is live now: the failing step still keeps its own files from going live.
    assert result.returncode == 1 and host.live() == "releases/r1"


def test_no_steps_no_step_unit(host):
    result, calls = host.run({}, *API_SPEC, step_names="")
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if any("-step-" in word for word in c)]


@pytest.mark.parametrize("steps", [
    "migrate", "migrate=", "=unit", "Migrate=unit", "mi-grate=unit", "migrate=unit@r1",
    "migrate=unit;touch PWNED", "migrate=$(touch PWNED)", "migrate=a/b",
])
def test_bad_step_arguments_are_refused_before_anything_runs(host, steps):
    result, calls = host.run({}, *API_SPEC, step_names=steps)
    assert result.returncode == 2 and "activate-release: refused step" in result.stderr
    assert calls == [] and host.live() == "releases/r0"
    assert not list(host.tmp.rglob("PWNED"))


def test_too_few_arguments_are_refused(host):
    command = script("activate-release", str(host.pending), str(host.root), "r1", "3", "2",
                     "app-x", "true", sys.executable, "")
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            env=host.env)
    assert result.returncode == 2 and "too few arguments (9)" in result.stderr
