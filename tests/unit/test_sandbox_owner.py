"""One sandbox per machine: the claim `up` takes and `down` lets go (sandbox/owner.py), with
real processes standing in for a running sandbox's machines."""

from __future__ import annotations

import pytest

from aitbc_infra.errors import UserError
from aitbc_infra.sandbox import owner, procs
from aitbc_infra.sandbox.paths import Paths


@pytest.fixture
def two_checkouts(tmp_path):
    claim = tmp_path / "run" / "sandbox-owner"
    return (Paths(state=tmp_path / "a" / ".sandbox", owner_file=claim),
            Paths(state=tmp_path / "b" / ".sandbox", owner_file=claim))


@pytest.fixture
def running_machine(tmp_path):
    """Start a process as the sandbox starts its machines; the PID file's path is returned."""
    started = []

    def start(p: Paths, name: str):
        pidfile = p.pids / f"{name}.pid"
        procs.spawn(["sleep", "60"], pidfile, tmp_path / "logs" / f"{name}.log")
        started.append(pidfile)
        return pidfile

    yield start
    for pidfile in started:
        procs.stop(pidfile, timeout=5)


def test_the_first_up_claims_the_machine(two_checkouts):
    a, _ = two_checkouts
    owner.claim(a)
    assert a.owner_file.read_text() == f"{a.state.resolve()}\n"
    owner.claim(a)  # its own claim again: nothing changes
    assert owner.owner(a) == a.state.resolve()


def test_another_checkout_is_refused_while_the_sandbox_runs(two_checkouts, running_machine):
    a, b = two_checkouts
    owner.claim(a)
    running_machine(a, "at1")
    running_machine(a, "pebble")
    with pytest.raises(UserError) as refused:
        owner.claim(b)
    said = str(refused.value)
    assert f"({a.state.resolve()}: at1, pebble)" in said
    assert f"`aitbc-infra sandbox down` in {a.state.resolve().parent}" in said
    assert owner.owner(b) == a.state.resolve()  # the claim stays the running sandbox's
    assert owner.other_running(b) == (a.state.resolve(), ["at1", "pebble"])
    owner.release(b)  # not b's to let go
    assert owner.owner(a) == a.state.resolve()


def test_a_claim_whose_sandbox_runs_nothing_is_taken_over(two_checkouts, running_machine):
    a, b = two_checkouts
    owner.claim(a)
    pidfile = running_machine(a, "at1")
    recorded = pidfile.read_text()
    procs.stop(pidfile, timeout=5)
    pidfile.write_text(recorded)  # its process died (a reboot), its PID file stayed
    owner.claim(b)
    assert owner.owner(a) == b.state.resolve()


def test_down_lets_the_claim_go(two_checkouts):
    a, b = two_checkouts
    owner.claim(a)
    owner.release(a)
    assert not a.owner_file.exists()
    owner.claim(b)
    assert owner.owner(b) == b.state.resolve()
