"""A scheduled job on a real host: a timer added to the exchange app on aitbc.

The job appends a line per run (the time of the run, on the host's clock) to a file of the app's
data directory, its working directory: the runs are counted there. The deploy starts the timer,
never the job, so the first run comes one interval after the timer started, and the next ones an
interval apart; verify passes with the timer's and the job's own checks; a second deploy changes
nothing. A new release of the app restarts its API and runs no job. At the end the job's files
are removed by hand (a deploy manages what the model declares, and the job is not in the
production data) and the site is deployed as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_helpers import (
    DeployRun,
    assert_verified,
    changed_tree,
    converge_back,
    deploy,
    request_loop,
    variant_inventory,
)

from aitbc_infra.loader import load_fleet
from aitbc_infra.model import App, Service
from aitbc_infra.render import render_fleet
from aitbc_infra.running import systemd_time
from aitbc_infra.sandbox import ssh_run

NODE = "aitbc"
APP = "exchange"
JOB = "aitbc-exchange-marks"
TIMER = f"{JOB}.timer"
EVERY = 5  # seconds between runs: three runs fit in a test
MARKS = "timer-marks"  # in the job's working directory, the app's data directory
# The exchange API's service ends here in group_data/aitbc_container.py; the job follows it.
AFTER_API = '"data_probe": "/api/trades/recent",\n            },\n'


def _job(every: int) -> dict:
    return {"unit": JOB, "description": "AITBC exchange test job (a line per run)",
            "command": f"-c \"import time; print(time.time(), file=open('{MARKS}', 'a'))\"",
            "workdir": "data", "schedule": {"every_seconds": every}}


def _variant(tmp: Path, every: int) -> Path:
    """The sandbox inventory with the job added to the exchange app, run every `every` s."""
    tmp.mkdir()
    return variant_inventory(tmp, "aitbc_container", AFTER_API,
                             f"{AFTER_API}            {_job(every)!r},\n")


def _declared(inventory: Path) -> tuple[App, Service]:
    app = next(a for a in load_fleet(inventory).hosts[NODE].apps if a.name == APP)
    return app, next(s for s in app.services if s.unit == JOB)


def _show(unit: str, *properties: str) -> dict[str, str]:
    """systemctl show of the unit's properties (timestamps in UTC, to the microsecond)."""
    asked = " ".join(f"-p {p}" for p in properties)
    out = ssh_run(NODE, f"systemctl show --timestamp=us+utc {asked} -- {unit}", check=True).stdout
    return dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)


def _runs(marks: str) -> list[float]:
    """The time of each run of the job so far, as it wrote it."""
    out = ssh_run(NODE, f"cat {marks} 2>/dev/null || true", check=True).stdout
    return [float(line) for line in out.split()]


def _wait_for_runs(marks: str, count: int, timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    runs = _runs(marks)
    while len(runs) < count and time.monotonic() < deadline:
        time.sleep(1)
        runs = _runs(marks)
    return runs


@dataclass
class WithTimer:
    variant: Path  # the sandbox inventory with the job
    run: DeployRun  # the deploy that added it
    failed_routes: set[str]  # routes the request loop saw fail meanwhile
    app: App
    job: Service
    marks: str  # the file the job appends to
    timer_file: str
    tmp: Path


@pytest.fixture(scope="module")
def with_timer(deployed_inventory, tmp_path_factory) -> Iterator[WithTimer]:
    tmp = tmp_path_factory.mktemp("timer")
    variant = _variant(tmp / "every", EVERY)
    app, job = _declared(variant)
    files = [f for f in render_fleet(load_fleet(variant))[NODE] if f.unit == JOB]
    marks = f"{app.workdir(job)}/{MARKS}"
    try:
        with request_loop("a timer added to the exchange app") as traffic:
            run = deploy(variant)
        assert run.returncode == 0, run.output[-3000:]
        yield WithTimer(variant, run, traffic.failed_routes(), app, job, marks,
                        next(f.path for f in files if f.kind == "timer"), tmp)
    finally:
        # Out of the model, the job's files would stay (and the timer run on): removed here.
        ssh_run(NODE, f"systemctl disable --now {TIMER}; systemctl stop {JOB}.service; "
                f"rm -f {' '.join(f.path for f in files)} {marks}; systemctl daemon-reload; "
                f"systemctl reset-failed {TIMER} {JOB}.service", timeout=60)
        converge_back(deployed_inventory)


def test_the_timer_runs_the_job_on_its_schedule_and_a_second_deploy_changes_nothing(with_timer):
    t = with_timer
    # What the run decided: the new timer started (restart), the job's files loaded, the job
    # itself and the app's API left alone; nothing on the other hosts.
    owed = t.run.results.get("owed", {})
    assert set(owed) == {NODE}, owed
    lines = owed[NODE]
    assert any(line.startswith(f"restart {TIMER}: {t.timer_file} added") for line in lines), lines
    assert any(line.startswith(f"load the units of {APP}: ") for line in lines), lines
    targets = {line.split(":", 1)[0].split()[-1] for line in lines}
    assert targets == {TIMER, APP}, lines
    assert t.failed_routes == set()  # adding a job costs no request

    timer = _show(TIMER, "ActiveState", "UnitFileState", "ActiveEnterTimestamp")
    assert (timer["ActiveState"], timer["UnitFileState"]) == ("active", "enabled"), timer
    started = systemd_time(timer["ActiveEnterTimestamp"])
    assert started is not None, timer

    runs = _wait_for_runs(t.marks, 3, timeout=3 * EVERY + 20)
    assert len(runs) >= 3, f"{len(runs)} run(s) of {JOB} within {3 * EVERY + 20} s: {runs}"
    # The deploy started the timer, not the job: the first run came one interval later.
    assert runs[0] >= started + EVERY - 0.5, f"timer started {started}, runs {runs}"
    assert runs[2] <= started + 3 * EVERY + 10, f"timer started {started}, runs {runs}"
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    assert all(gap >= EVERY / 2 for gap in gaps), f"runs closer than the interval: {gaps}"
    job = _show(f"{JOB}.service", "Result", "User", "Type")
    assert job == {"Result": "success", "User": t.app.user, "Type": "oneshot"}, job

    # verify: every check green, the timer's and the job's among them.
    assert_verified(t.variant, t.tmp / "verify.xml",
                    f"{NODE}: unit {TIMER} active and enabled",
                    f"{NODE}: timer {TIMER} waits to start {JOB}",
                    f"{NODE}: job {JOB} loaded as {t.app.user}, hardened, last run ok",
                    f"{NODE}: unit {TIMER} runs its files on disk")

    # Again: nothing owed, no operation, the timer not restarted, the runs going on.
    run = deploy(t.variant)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == 0, run.changed_operations()
    assert not run.results.get("owed"), run.results.get("owed")
    assert _show(TIMER, "ActiveEnterTimestamp")["ActiveEnterTimestamp"] == \
        timer["ActiveEnterTimestamp"]
    assert len(_wait_for_runs(t.marks, len(runs) + 1, timeout=2 * EVERY + 10)) > len(runs)


def test_a_new_release_reaches_the_job_without_running_it(with_timer, tmp_path):
    t = with_timer
    # An hour between runs: from here on, a run could only be one the deploy started.
    hourly = _variant(tmp_path / "hourly", 3600)
    run = deploy(hourly)
    assert run.returncode == 0, run.output[-3000:]
    assert run.results.get("owed") == {NODE: [f"restart {TIMER}: {t.timer_file} changed"]}
    time.sleep(EVERY)  # a run the previous timer started has ended
    runs = _runs(t.marks)
    job = _show(f"{JOB}.service", "InvocationID", "ExecMainStartTimestamp")
    timer = _show(TIMER, "ActiveEnterTimestamp", "SubState")
    assert timer["SubState"] == "waiting", timer
    venv = f"readlink {t.app.venv}"
    release = ssh_run(NODE, venv, check=True).stdout.strip()

    # The exchange's sources change: a new release of the app (and of the trade exchange,
    # which runs the same tree).
    tree = changed_tree(tmp_path, "payload/apps/trade-exchange/server.py", "", "# release 2\n")
    run = deploy(hourly, tree)
    assert run.returncode == 0, run.output[-3000:]
    lines = run.results.get("owed", {}).get(NODE, [])
    assert any(line.startswith("restart aitbc-exchange-api: release ") for line in lines), lines
    assert not [line for line in lines if JOB in line], lines  # neither the timer nor the job
    assert ssh_run(NODE, venv, check=True).stdout.strip() != release

    time.sleep(2)
    assert _runs(t.marks) == runs, "the job ran during the release's deploy"
    assert _show(f"{JOB}.service", "InvocationID", "ExecMainStartTimestamp") == job
    assert _show(TIMER, "ActiveEnterTimestamp", "SubState") == timer
