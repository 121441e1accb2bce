"""Scheduled jobs: a service with a `schedule` is a oneshot unit its own timer (UNIT.timer)
starts. What the model refuses (naming host, field and value), what renders (the timer, and the
job hardened as the app's other services), and what a run owes for it: the timer restarted or
started, the job never started by a deploy, not even for a new release.

The production data declares no job: each test adds one to the exchange app on aitbc (or an
app of jobs only), to the production hosts as the loader hands them over.
"""

from __future__ import annotations

import copy
import re
import subprocess
from dataclasses import replace
from functools import cache
from itertools import product

import pytest
from unit_helpers import absent, build_fleet, content, decision_after, link, present, unit

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.activation import Load, Restart
from aitbc_infra.checks import check_exposure, check_units
from aitbc_infra.decision import NOTHING, RESTART, START
from aitbc_infra.docs import render_docs
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.host_names import PENDING_DIR
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import calendar_problem, systemd_unit
from aitbc_infra.plan import host_plan
from aitbc_infra.render import render_fleet
from aitbc_infra.running import unit_inputs
from deploys import apps

HOST = "aitbc"
JOB = "aitbc-exchange-marks"
TIMER = f"/etc/systemd/system/{JOB}.timer"
JOB_UNIT = f"/etc/systemd/system/{JOB}.service"
JOB_ENV = f"/etc/aitbc/{JOB}.env"
API_UNIT = "/etc/systemd/system/aitbc-exchange-api.service"
EVERY_5 = {"every_seconds": 5}


def job(**fields) -> dict:
    """The exchange app's job: a line appended to a file of its data directory."""
    return {"unit": JOB, "description": "AITBC exchange marks (100% a test)",
            "command": "-c \"import time; print(time.time(), file=open('marks', 'a'))\"",
            "workdir": "data", "schedule": EVERY_5, **fields}


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


def _with_jobs(*jobs: dict):
    def edit(data: dict) -> None:
        data["apps"][_index(data, "exchange")]["services"] += [copy.deepcopy(j) for j in jobs]
    return edit


def _jobs_only_app(data: dict) -> None:
    """An app of one job and nothing else: `marks`, from the exchange's tree."""
    data["users"].append({"name": "aitbc-marks", "home": "/opt/marks", "system": True})
    data["apps"].append({"name": "marks", "trees": ["apps/trade-exchange"], "user": "aitbc-marks",
                         "root": "/opt/marks", "data_dirs": ["data"],
                         "services": [job(unit="aitbc-marks")]})


@cache
def fleet_with(schedule_key: str = "every") -> Fleet:
    schedules = {"every": EVERY_5,
                 "calendar": {"calendar": "Mon..Fri *-*-* 03:00:00", "persistent": True,
                              "randomized_delay_seconds": 600}}
    return build_fleet(_hosts(_with_jobs(job(schedule=schedules[schedule_key]))))


def _refused(edit) -> list[str]:
    with pytest.raises(ModelError) as info:
        build_fleet(_hosts(edit))
    return [str(p) for p in info.value.problems]


# The model: what a schedule may be ------------------------------------------------------------


def _job_field(data: dict) -> str:
    app = _index(data, "exchange")
    return f"apps[{app}].services[{len(data['apps'][app]['services']) - 1}]"


def _other_after_job(data: dict) -> None:
    _with_jobs(job())(data)
    data["apps"][_index(data, "exchange")]["services"][0]["after"] = [JOB]


# (case, the job's fields (or an edit of aitbc's data), the field after the job's path, what the
# problem says). Each problem also names the host; a value, where one is refused, is shown.
REFUSED = [
    ("calendar with a newline", {"schedule": {"calendar": "daily\nExecStartPre=/bin/sh"}},
     ".schedule.calendar", ["control characters", "'daily\\nExecStartPre=/bin/sh'"]),
    ("calendar with a specifier", {"schedule": {"calendar": "*-*-* %H:00"}},
     ".schedule.calendar", ["'%' is not part of a calendar event", "specifier", "'*-*-* %H:00'"]),
    ("calendar with a backslash", {"schedule": {"calendar": "daily\\"}},
     ".schedule.calendar", ["'\\\\' is not part", "line continuation"]),
    ("calendar with a semicolon", {"schedule": {"calendar": "daily; reboot"}},
     ".schedule.calendar", ["';' is not part of a calendar event"]),
    ("hour out of range", {"schedule": {"calendar": "*-*-* 25:00"}},
     ".schedule.calendar", ["hour '25' is outside 0..23", "'*-*-* 25:00'"]),
    ("month zero", {"schedule": {"calendar": "*-0-1 00:00"}},
     ".schedule.calendar", ["month '0' is outside 1..12"]),
    ("backwards range", {"schedule": {"calendar": "*-*-* 05..03:00"}},
     ".schedule.calendar", ["hour range '05..03' runs backwards"]),
    ("weekdays backwards", {"schedule": {"calendar": "Sun..Mon 01:00"}},
     ".schedule.calendar", ["weekday range 'Sun..Mon' runs backwards"]),
    ("weekday spelled out", {"schedule": {"calendar": "Monday 03:00"}},
     ".schedule.calendar", ["weekdays 'Monday' are not Mon, Tue"]),
    ("a time zone", {"schedule": {"calendar": "*-*-* 08:00 Europe/Berlin"}},
     ".schedule.calendar", ["not of the form [WEEKDAYS]"]),
    ("a step of zero", {"schedule": {"calendar": "*:0/0"}},
     ".schedule.calendar", ["minute repetition '0/0' takes a step of 1..59"]),
    ("a star with a step", {"schedule": {"calendar": "*:*/15"}},
     ".schedule.calendar", ["minute '*/15' is not '*' or values"]),
    ("last days of a month", {"schedule": {"calendar": "*-*~1"}},
     ".schedule.calendar", ["'~' is not part of a calendar event"]),
    ("two spaces", {"schedule": {"calendar": "Mon  03:00"}},
     ".schedule.calendar", ["single spaces"]),
    ("empty", {"schedule": {"calendar": ""}}, ".schedule.calendar", ["empty"]),
    ("not a string", {"schedule": {"calendar": 3}}, ".schedule.calendar", ["valid string"]),
    ("both kinds", {"schedule": {"calendar": "daily", "every_seconds": 60}},
     ".schedule", ["exactly one of 'calendar' or 'every_seconds'"]),
    ("neither kind", {"schedule": {"persistent": True}},
     ".schedule", ["exactly one of 'calendar' or 'every_seconds'"]),
    ("persistent interval", {"schedule": {"every_seconds": 60, "persistent": True}},
     ".schedule", ["'persistent' is for a 'calendar' schedule"]),
    ("interval of zero", {"schedule": {"every_seconds": 0}},
     ".schedule.every_seconds", ["greater than or equal to 1", "(value 0)"]),
    ("interval as text", {"schedule": {"every_seconds": "60"}},
     ".schedule.every_seconds", ["valid integer", "(value '60')"]),
    ("interval as a boolean", {"schedule": {"every_seconds": True}},
     ".schedule.every_seconds", ["valid integer", "(value True)"]),
    ("negative delay", {"schedule": {"every_seconds": 60, "randomized_delay_seconds": -1}},
     ".schedule.randomized_delay_seconds", ["greater than or equal to 0", "(value -1)"]),
    ("unknown schedule field", {"schedule": {"every_seconds": 60, "on_boot_seconds": 5}},
     ".schedule.on_boot_seconds", ["Extra inputs are not permitted"]),
    ("a job with a port", {"port": 8099}, "", [f"service {JOB}: a scheduled job"]),
    ("an asgi job", {"command": None, "asgi": "app.main:app", "port": 8099}, "",
     [f"service {JOB}: a scheduled job"]),
    ("a oneshot job", {"oneshot": True}, "", [f"service {JOB}: a scheduled job"]),
    ("a unit named as a timer", {"unit": f"{JOB}.timer"}, ".unit",
     ["ends in a unit type", f"'{JOB}.timer'"]),
    ("a unit ordered after the job", _other_after_job, None,
     [f"'{JOB}' is a scheduled job", "no unit is ordered after it"]),
]


@pytest.mark.parametrize(("fields", "field", "says"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_a_bad_schedule_is_refused_naming_host_field_and_value(fields, field, says):
    edit = fields if callable(fields) else _with_jobs(job(**fields))
    data = copy.deepcopy(next(d for _, _, d in _base() if d["node"] == HOST))
    edit(data)
    if field is None:  # the unit ordered after the job: the exchange API, its first service
        where = f"apps[{_index(data, 'exchange')}].services[0].after"
    else:
        where = _job_field(data) + field
    problems = _refused(edit)
    named = [p for p in problems if re.match(rf"host {HOST}( \[groups: [^]]*\])?: {re.escape(where)}: ", p)]
    assert named, problems
    assert any(all(s in p for s in says) for p in named), named


def test_a_good_schedule_loads():
    host = fleet_with("calendar").hosts[HOST]
    _, svc = next((a, s) for a, s in host.services if s.unit == JOB)
    assert svc.started_unit == f"{JOB}.timer" and svc.schedule.persistent
    assert systemd_unit(svc.started_unit) == f"{JOB}.timer"
    assert systemd_unit(JOB) == f"{JOB}.service" and systemd_unit("a.b") == "a.b.service"


# Every calendar event the model takes, systemd takes: a grid of parts, each accepted whole
# event handed to `systemd-analyze calendar` at once.
WEEKDAY_PARTS = [None, "Mon", "Mon..Fri", "Sat,Sun", "Sun..Mon", "Tue,Thu..Sat", "mon"]
DATE_PARTS = [None, "*-*-*", "2027-01-01", "*-12-25", "*-1", "*-*-1,15", "*-2-30",
              "2027..2030-*-*", "*-0-1", "*-*-32", "12-*-*", "*-1..3/2-*"]
TIME_PARTS = [None, "03:00", "*:0/15", "0..6/2:00", "*:*:0/10", "24:00", "00:60", "3:0", "*:*/15",
              "00:00:00", "12:30:59", "1:2:3:4"]


def _grid() -> list[str]:
    events = []
    for parts in product(WEEKDAY_PARTS, DATE_PARTS, TIME_PARTS, [None, "UTC"]):
        events.append(" ".join(p for p in parts if p))
    return [*events, "daily", "hourly UTC", "semiannually", "minutely"]


def test_every_calendar_event_the_model_takes_systemd_takes():
    accepted = [e for e in _grid() if e and calendar_problem(e) is None]
    assert len(accepted) > 300
    result = subprocess.run(["systemd-analyze", "calendar", *accepted], capture_output=True,
                            text=True)
    if result.returncode != 0:  # name the ones systemd refuses
        refused = [e for e in accepted if subprocess.run(
            ["systemd-analyze", "calendar", e], capture_output=True).returncode != 0]
        pytest.fail(f"the model takes events systemd refuses: {refused}")


@pytest.mark.parametrize("event", ["*-*-* 25:00", "Sun..Mon 01:00", "*:*/15", "*-*-* 05..03:00",
                                   "*-0-1", "1:2:3:4"])
def test_events_systemd_refuses_are_refused(event):
    assert subprocess.run(["systemd-analyze", "calendar", event],
                          capture_output=True).returncode != 0
    assert calendar_problem(event)


# A subset on purpose: forms systemd reads that the model does not take (one spelling of each
# day, no last days of a month, no fractions of a second, no zone but UTC, four-digit years).
@pytest.mark.parametrize("event", ["Mon", "mon 03:00", "Monday 03:00", "*-*~1", "*-*-* 03:00:00.5",
                                   "*-*-* 08:00 Europe/Berlin", "12-*-* 00:00"])
def test_forms_systemd_reads_that_the_model_leaves_out(event):
    assert subprocess.run(["systemd-analyze", "calendar", event],
                          capture_output=True).returncode == 0
    assert calendar_problem(event)


# What renders ------------------------------------------------------------------------------


def _files(fleet: Fleet) -> dict:
    return {f.path: f for f in render_fleet(fleet)[HOST]}


def _values(text: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", text, re.M)


def _hardening(text: str) -> str:
    return text.split("# Hardening", 1)[1].split("\n[Install]", 1)[0].rstrip("\n")


def test_the_job_is_a_oneshot_unit_hardened_as_the_apps_other_services():
    files = _files(fleet_with())
    unit, api = files[JOB_UNIT].content, files[API_UNIT].content
    assert _values(unit, "Type") == ["oneshot"]
    assert _values(unit, "RemainAfterExit") == [] and _values(unit, "Restart") == []
    assert "[Install]" not in unit  # no target starts it: its timer does
    for key in ("User", "Group", "ReadWritePaths", "ProtectHome"):
        assert _values(unit, key) == _values(api, key), key
    assert _values(unit, "WorkingDirectory") == ["/opt/exchange/data"]
    assert _values(unit, "EnvironmentFile") == [JOB_ENV]
    assert _values(unit, "ExecStart") == [
        "/opt/exchange/.venv/bin/python -c \"import time; print(time.time(), "
        "file=open('marks', 'a'))\""]
    # The same hardening block, line for line, as the exchange API's.
    assert _hardening(unit) == _hardening(api)
    for line in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "CapabilityBoundingSet=", "SystemCallFilter=@system-service"):
        assert f"\n{line}\n" in unit
    # Free text escaped: no %-specifier left to expand.
    assert _values(unit, "Description") == ["AITBC exchange marks (100%% a test)"]
    assert files[JOB_ENV].mode == "0600" and files[JOB_ENV].secret


# (schedule, the [Timer] settings it renders)
TIMERS = [
    ("every", [("OnActiveSec", "5s"), ("OnUnitActiveSec", "5s"), ("AccuracySec", "1s"),
               ("Unit", f"{JOB}.service")]),
    ("calendar", [("OnCalendar", "Mon..Fri *-*-* 03:00:00"), ("Persistent", "yes"),
                  ("RandomizedDelaySec", "600s"), ("AccuracySec", "1s"),
                  ("Unit", f"{JOB}.service")]),
]


@pytest.mark.parametrize(("schedule", "settings"), TIMERS, ids=[t[0] for t in TIMERS])
def test_the_timer_starts_the_job_on_its_schedule(schedule, settings):
    files = _files(fleet_with(schedule))
    timer = files[TIMER]
    section = timer.content.split("[Timer]\n", 1)[1].split("\n[", 1)[0]
    found = [tuple(line.split("=", 1)) for line in section.splitlines()
             if line and not line.startswith("#")]
    assert found == settings
    assert timer.content.endswith("[Install]\nWantedBy=timers.target\n")
    assert _values(timer.content, "Description") == ["AITBC exchange marks (100%% a test) (schedule)"]
    assert (timer.kind, timer.unit, timer.mode) == ("timer", JOB, "0644")


def test_what_each_file_of_a_job_sets_off():
    files = _files(fleet_with())
    # The timer restarts itself; the job's own files are loaded and restart nothing.
    assert files[TIMER].activation == Restart(f"{JOB}.timer", "exchange")
    assert files[JOB_UNIT].activation == Load("exchange")
    assert files[JOB_ENV].activation == Load("exchange")


def test_the_jobs_units_pass_the_offline_checks():
    fleet = fleet_with("calendar")
    files = render_fleet(fleet)[HOST]
    ours = [f for f in files if f.unit == JOB]
    verified = check_units(fleet.hosts[HOST], ours)
    assert [r.check for r in verified] == [f"systemd-analyze verify {JOB}.service"]
    assert all(r.ok for r in verified), verified
    [exposure] = check_exposure(fleet.hosts[HOST], ours)
    assert exposure.ok and exposure.check == f"exposure {JOB}", exposure


def test_a_broken_timer_fails_the_offline_check():
    fleet = fleet_with()
    ours = [f for f in render_fleet(fleet)[HOST] if f.unit == JOB]
    broken = [replace(f, content=f.content.replace("OnActiveSec=5s\nOnUnitActiveSec=5s\n", ""))
              if f.kind == "timer" else f for f in ours]
    [result] = check_units(fleet.hosts[HOST], broken)
    assert not result.ok and "lacks value setting" in result.detail


def test_the_plan_reads_the_timer_not_the_job():
    plan = host_plan(fleet_with(), fleet_with().hosts[HOST])
    assert f"{JOB}.timer" in plan.units and JOB not in plan.units
    inputs = unit_inputs(fleet_with().hosts[HOST], plan.files)
    assert inputs[f"{JOB}.timer"] == [TIMER] and JOB not in inputs


def test_the_docs_say_when_a_job_runs():
    docs = render_docs(fleet_with("calendar"))
    row = next(line for line in docs.splitlines() if f"`{JOB}`" in line)
    assert "`Mon..Fri *-*-* 03:00:00`, a missed run caught up, up to 600 s later" in row
    docs = render_docs(fleet_with())
    assert "every 5 s" in next(line for line in docs.splitlines() if f"`{JOB}`" in line)


# What a run owes ------------------------------------------------------------------------------


@cache
def jobs_only_fleet() -> Fleet:
    return build_fleet(_hosts(_jobs_only_app))


T = f"{JOB}.timer"
# (case, the fleet, the edits of its converged state, the lines the run prints)
OWED = [
    ("nothing", fleet_with, [], []),
    ("timer file changed", fleet_with, [content(TIMER)], [f"restart {T}: {TIMER} changed"]),
    ("new timer", fleet_with, [absent(TIMER), absent(JOB_UNIT), absent(JOB_ENV), unit(T, "", "")],
     [f"load the units of exchange: {JOB_ENV} added; {JOB_UNIT} added",
      f"restart {T}: {TIMER} added; {T} not active (unknown); {T} not enabled (unknown)"]),
    ("job's unit file changed", fleet_with, [content(JOB_UNIT)],
     [f"load the units of exchange: {JOB_UNIT} changed"]),
    ("job's env file changed", fleet_with, [content(JOB_ENV)],
     [f"load the units of exchange: {JOB_ENV} changed"]),
    ("new release", fleet_with, [link("/opt/exchange/.venv", "releases/r0")],
     ["restart aitbc-exchange-api: release releases/r0 -> releases/r1"]),
    ("timer stopped", fleet_with, [unit(T, "inactive")], [f"start {T}: {T} not active (inactive)"]),
    ("timer disabled", fleet_with, [unit(T, enabled="disabled")],
     [f"start {T}: {T} not enabled (disabled)"]),
    ("restart mark on the timer", fleet_with, [present(f"{PENDING_DIR}/restart-{T}")],
     [f"restart {T}: restart mark left by an unfinished run"]),
    ("jobs only: nothing", jobs_only_fleet, [], []),
    ("jobs only: new release", jobs_only_fleet, [link("/opt/marks/.venv", "releases/r0")],
     ["switch marks to its release, for its jobs' next runs: release releases/r0 -> releases/r1"]),
]


@pytest.mark.parametrize(("fleet", "edits", "lines"), [c[1:] for c in OWED],
                         ids=[c[0] for c in OWED])
def test_what_a_run_owes_for_a_job_and_why(fleet, edits, lines):
    decision = decision_after(fleet(), HOST, edits)
    assert decision.lines() == lines
    # The job itself is never started, stopped or restarted by a run.
    assert not {JOB, "aitbc-marks"} & decision.restarts


def test_each_unit_of_an_app_with_a_job_is_told_its_action(monkeypatch):
    """activate-release.sh gets the timer as the unit, with no health URL, no candidate and
    no data probe; a new timer is new (a failed gate stops it, with nothing to restore)."""
    fleet = fleet_with()
    monkeypatch.setattr(apps, "fleet", lambda: fleet)
    spec = fleet.hosts[HOST]
    app = next(a for a in spec.apps if a.name == "exchange")
    owed = decision_after(fleet, HOST, [absent(TIMER), content(API_UNIT)]).apps["exchange"]
    assert {u.unit: (u.action, u.new) for u in owed.units} == {
        "aitbc-exchange-api": (RESTART, False), T: (RESTART, True)}
    told = apps.unit_arguments(spec, app, owed)
    assert told[6] == "/api/trades/recent"  # the API's data probe; a timer has none
    assert told[7:] == [T, "restart", "no", "yes", "-", "-", "-"]
    owed = decision_after(fleet, HOST, [unit(T, "failed")]).apps["exchange"]
    assert {u.unit: u.action for u in owed.units} == {"aitbc-exchange-api": NOTHING, T: START}


def test_an_app_of_jobs_switches_its_release_and_restarts_nothing(monkeypatch):
    fleet = jobs_only_fleet()
    monkeypatch.setattr(apps, "fleet", lambda: fleet)
    spec = fleet.hosts[HOST]
    owed = decision_after(fleet, HOST, [link("/opt/marks/.venv", "releases/r0")]).apps["marks"]
    assert owed.release == ("release releases/r0 -> releases/r1",)
    app = next(a for a in spec.apps if a.name == "marks")
    assert apps.unit_arguments(spec, app, owed) == ["aitbc-marks.timer", "none", "no", "no", "-", "-", "-"]
