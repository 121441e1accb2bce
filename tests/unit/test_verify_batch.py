"""The verify suite's gathering: a batch of probe commands runs at once, each one's exit status
and output come back apart, whatever the output looks like (run here, on this machine)."""

from __future__ import annotations

import importlib.util
import sys

from aitbc_infra import PROJECT_ROOT

# Loaded under its own name: tests/unit has a conftest of its own.
_spec = importlib.util.spec_from_file_location("verify_conftest",
                                               PROJECT_ROOT / "tests" / "verify" / "conftest.py")
v = sys.modules.setdefault("verify_conftest", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(v)


def test_each_command_gets_its_own_status_and_output():
    commands = ["echo one", "printf 'no newline'; exit 3", "echo to stderr >&2", "true",
                "printf '@@0 0\\nlooks like a marker\\n'", "echo $((6 * 7))", "printf 'héllo'"]
    results = v.run_batch(v.target(v.CONTROL), commands)
    assert results == {
        "echo one": v.Result(0, "one\n"),
        "printf 'no newline'; exit 3": v.Result(3, "no newline"),
        "echo to stderr >&2": v.Result(0, "to stderr\n"),
        "true": v.Result(0, ""),
        "printf '@@0 0\\nlooks like a marker\\n'": v.Result(0, "@@0 0\nlooks like a marker\n"),
        "echo $((6 * 7))": v.Result(0, "42\n"),
        "printf 'héllo'": v.Result(0, "héllo"),
    }


def test_commands_of_a_batch_run_at_once():
    # Each command notes when it started and when it ended: all started before any ended
    # (counted from the commands' own clocks, not a budget of wall-clock time for the batch).
    results = v.run_batch(v.target(v.CONTROL), [f"date +%s.%N; sleep 2; date +%s.%N; echo {i}"
                                                for i in range(8)])
    times = [[float(t) for t in r.stdout.split()[:2]] for r in results.values()]
    assert max(start for start, _ in times) < min(end for _, end in times)
    assert [r.stdout.split()[2] for r in results.values()] == [str(i) for i in range(8)]
