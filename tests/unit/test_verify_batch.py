"""The verify suite's gathering: a batch of probe commands runs at once, each one's exit status
and output come back apart, whatever the output looks like (run here, on this machine)."""

from __future__ import annotations

import importlib.util
import sys
import time

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
    started = time.monotonic()
    results = v.run_batch(v.target(v.CONTROL), [f"sleep 1; echo {i}" for i in range(8)])
    assert time.monotonic() - started < 4
    assert [r.stdout for r in results.values()] == [f"{i}\n" for i in range(8)]
