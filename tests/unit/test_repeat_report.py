"""`./dev test --repeat N`'s report: a test that failed in any one run is named, with the run."""

from __future__ import annotations

import subprocess
import sys

from aitbc_infra import PROJECT_ROOT

REPORT = PROJECT_ROOT / "tests" / "repeat_report.py"


def _junit(path, outcomes: dict[str, str]) -> None:
    cases = "".join(
        f'<testcase classname="tests.sandbox.t" name="{name}">'
        + ("" if outcome == "passed" else f'<{outcome} message="x"/>') + "</testcase>"
        for name, outcome in outcomes.items())
    path.write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')


def _run(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPORT), *map(str, paths)], capture_output=True,
                          text=True)


def test_a_test_failing_in_one_run_of_three_is_named_with_its_run(tmp_path):
    runs = [tmp_path / f"run-{i}.xml" for i in (1, 2, 3)]
    _junit(runs[0], {"test_a": "passed", "test_b": "passed"})
    _junit(runs[1], {"test_a": "passed", "test_b": "failure"})
    _junit(runs[2], {"test_a": "passed", "test_b": "passed"})
    result = _run(*runs)
    assert result.returncode == 1
    assert "FAILED in run(s) 2 of 3: tests.sandbox.t::test_b" in result.stdout
    assert "test_a" not in result.stdout


def test_every_run_green_passes_and_a_missing_report_does_not(tmp_path):
    runs = [tmp_path / f"run-{i}.xml" for i in (1, 2)]
    for run in runs:
        _junit(run, {"test_a": "passed"})
    assert _run(*runs).returncode == 0
    assert _run(*runs, tmp_path / "run-3.xml").returncode == 2
