"""The deploy's side of new firewall rules (aitbc_infra/firewall_confirm.py, deploys/firewall.py):
what it asks the host and over which connection, what each answer means, and the confirmation
window as data. The host's side is tests/unit/test_firewall_switch.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest
from pyinfra.api import Config, Inventory
from pyinfra.api import State as PyinfraState
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops
from pyinfra.operations import python, server

from aitbc_infra import firewall_confirm
from aitbc_infra.drift import sha256
from aitbc_infra.firewall_confirm import DISARM, PROBE, attempt_timeout, confirm, connect_timeout
from aitbc_infra.fleet import ModelError
from aitbc_infra.host_names import FIREHOL_CONF, FIREHOL_REVERT_UNIT, FIREHOL_SWITCH_DIR
from aitbc_infra.remote import SSH_FAILED, host_argv
from aitbc_infra.render import render_fleet
from deploys import firewall, lock

CONF = "version 6\n# the rendered rules\n"
HOST = "ns3-root"


def _done(stdout: str = "", status: int = 0, stderr: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], status, stdout, stderr)


class Host:
    """Answers firehol-confirm's questions in turn; records which action each one asked."""

    def __init__(self, *answers: subprocess.CompletedProcess):
        self.answers = list(answers)
        self.asked: list[str] = []
        self.slept = 0.0

    def ask(self, command: str) -> subprocess.CompletedProcess:
        words = shlex.split(command)
        # sh -c BODY firehol-confirm SCRIPT_ARGUMENTS... ACTION SWITCH_DIR UNIT CONF
        assert words[:2] == ["sh", "-c"] and words[3] == "firehol-confirm"
        assert words[-3:] == [FIREHOL_SWITCH_DIR, FIREHOL_REVERT_UNIT, FIREHOL_CONF]
        self.asked.append(words[-4])
        return self.answers.pop(0)

    def clock(self) -> float:
        return self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


def _confirm(host: Host, seconds: int = 15) -> str | None:
    return confirm(host.ask, HOST, seconds, CONF, clock=host.clock, sleep=host.sleep)


def test_probes_until_live_then_disarms_over_one_more_connection():
    host = Host(_done("pending\n"), _done("pending\n"), _done("applied\n"),
                _done(f"confirmed\t{sha256(CONF.encode())}\n"))
    assert _confirm(host) is None
    assert host.asked == [PROBE, PROBE, PROBE, DISARM]
    assert host.slept == 2 * firewall_confirm.POLL_SECONDS


def test_a_connection_the_new_rules_refuse_fails_the_host_naming_it():
    host = Host(_done("pending\n"), _done(status=SSH_FAILED, stderr=(
        "ssh: connect to host 10.231.0.3 port 22: Connection timed out\n")))
    assert _confirm(host) == (
        "ns3-root: the new firewall rules cut this machine's SSH: confirmation over a new "
        "connection failed (ssh: connect to host 10.231.0.3 port 22: Connection timed out); "
        "the host puts the previous rules back within 15 s")
    assert host.asked == [PROBE, PROBE]


def test_the_disarming_connection_refused_too():
    host = Host(_done("applied\n"), _done(status=SSH_FAILED, stderr="no answer within 10 s"))
    said = _confirm(host, seconds=60)
    assert said.startswith("ns3-root: the new firewall rules cut this machine's SSH")
    assert "(no answer within 10 s)" in said and "within 60 s" in said


def test_firehol_failing_to_start_is_said_in_its_own_words():
    host = Host(_done("failed\nFireHOL: ipset aitbc-admins\x1b[31m missing\n"))
    said = _confirm(host)
    assert said.splitlines() == [
        "ns3-root: firehol did not start the new rules; the previous rules and firehol files "
        "are back. firehol said:", "FireHOL: ipset aitbc-admins\\x1b[31m missing"]


@pytest.mark.parametrize(("answer", "said"), [
    ("reverted\t2026-05-04T10:11:12Z\n", "ns3-root: the host put the previous firewall rules back "
     "at 2026-05-04T10:11:12Z, before the deploy confirmed the new ones (their window: 15 s)"),
    ("unarmed\n", "ns3-root: the new firewall rules let this machine in, but the host had no "
     "revert of them armed"),
    ("what?\n", "ns3-root: confirming the new firewall rules: an answer not understood: 'what?'"),
])
def test_every_other_answer_fails_the_host_naming_it(answer, said):
    assert _confirm(Host(_done(answer))).startswith(said)


def test_rules_kept_that_are_not_the_rendered_ones_fail_the_host():
    """An earlier run's revert put the previous firehol.conf back between this run's read and
    its activation: the host confirms rules, but not these."""
    host = Host(_done("applied\n"), _done(f"confirmed\t{sha256(b'other')}\n"))
    assert "not the rendered ones" in _confirm(host)


def test_rules_that_never_go_live_are_given_up_on_with_the_window():
    host = Host(*[_done("pending\n")] * 100)
    said = _confirm(host, seconds=10)
    assert said == ("ns3-root: the new firewall rules did not go live within 10 s (the apply "
                    "timer did not run?); the host puts the previous rules back")
    assert 10 <= host.slept < 10 + firewall_confirm.POLL_SECONDS * 2


def test_a_refused_question_is_said():
    host = Host(_done(status=2, stderr="firehol-confirm: refused path (not absolute): x\n"))
    assert "exit status 2: firehol-confirm: refused path" in _confirm(host)


def test_each_question_goes_over_a_new_connection_of_its_own():
    data = {"ssh_hostname": "10.231.0.3", "ssh_user": "root", "ssh_key": "/k",
            "ssh_config_file": "/c"}
    argv = host_argv(HOST, data, new=True, connect_timeout=connect_timeout(15))
    options = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    assert {"ControlMaster=no", "ControlPath=none", "ConnectTimeout=5", "BatchMode=yes",
            "StrictHostKeyChecking=yes"} <= set(options)
    assert argv[-2:] == ["--", "10.231.0.3"]
    assert "ControlPath=none" not in host_argv(HOST, data)  # status and history may share one
    assert host_argv("@local", {}) is None  # on the host itself: sh -c, no connection


@pytest.mark.parametrize(("window", "connect", "attempt"), [(10, 3, 6), (15, 5, 10), (600, 5, 10)])
def test_a_connection_is_given_up_on_well_inside_the_window(window, connect, attempt):
    assert (connect_timeout(window), attempt_timeout(window)) == (connect, attempt)


# The window as data -----------------------------------------------------------------------------


def test_the_window_reaches_the_activation(data):
    data.groups["ns3_host"]["firewall"]["confirm_seconds"] = 15
    rendered = render_fleet(data.load())
    journal = {f.path: f for f in rendered["ns3-root"]}[FIREHOL_CONF].activation
    assert journal.activate.args[5] == "15"
    at1 = {f.path: f for f in rendered["at1"]}[FIREHOL_CONF].activation
    assert at1.activate.args[5] == "60"  # the default


@pytest.mark.parametrize(("value", "words"), [
    (9, "greater than or equal to 10"), (601, "less than or equal to 600"),
    ("60", "valid integer"), (True, "valid integer"), (60.0, "valid integer")])
def test_a_window_out_of_bounds_is_refused_naming_host_and_field(data, value, words):
    data.groups["ns3_host"]["firewall"]["confirm_seconds"] = value
    with pytest.raises(ModelError) as refused:
        data.load()
    assert "host ns3-root" in str(refused.value) and "firewall.confirm_seconds" in str(refused.value)
    assert words in str(refused.value)


@pytest.mark.parametrize("unit", ["aitbc-firehol-revert", "aitbc-firehol-apply"])
def test_a_unit_named_as_a_firewall_timer_is_refused(data, unit):
    field, svc = data.service("aitbc_container", "aitbc-wallet-daemon")
    svc["unit"] = unit
    with pytest.raises(ModelError) as refused:
        data.load()
    assert f"{field}.unit" in str(refused.value) and "the deploy's own" in str(refused.value)


# The operation pyinfra runs (deploys/firewall.py), with a real connection ----------------------


class PyinfraHost:
    """What deploys/firewall.confirm uses of pyinfra's host: its name, its data, its log."""

    def __init__(self, name: str, **data):
        self.name, self.logged = name, []
        self.data = type("Data", (), {"dict": lambda _self: data})()

    def log(self, message: str, log_func) -> None:
        self.logged.append(message)


def test_an_unreachable_host_fails_the_operation_and_its_lock_waits_for_nothing(monkeypatch):
    monkeypatch.setattr(lock, "_unreachable", set())
    host = PyinfraHost(HOST, ssh_hostname="192.0.2.1", ssh_user="root")  # TEST-NET-1: no route
    assert firewall.confirm(None, host, 10, CONF) is False
    said, = host.logged
    assert said.startswith("ns3-root: the new firewall rules cut this machine's SSH: confirmation "
                           "over a new connection failed (") and said.endswith("within 10 s")
    assert lock._unreachable == {HOST}


def test_at_local_the_host_itself_is_asked(monkeypatch):
    """`@local`: the questions run here, with no connection. This machine has no switch armed,
    so it answers so."""
    monkeypatch.setattr(lock, "_unreachable", set())
    assert not os.path.exists(FIREHOL_SWITCH_DIR), "this machine holds a firewall switch"
    host = PyinfraHost("@local")
    assert firewall.confirm(None, host, 10, CONF) is False
    assert host.logged == ["@local: the new firewall rules let this machine in, but the host had "
                           "no revert of them armed to disarm, nor a record of one (removed by "
                           "hand?); deploy again"]
    assert lock._unreachable == set()


def test_pyinfra_fails_the_host_when_the_confirmation_does(monkeypatch, caplog):
    """The operation as deploys/firewall.py adds it, run by pyinfra itself on @local: the
    callback's answer is the operation's status, and a failed host runs nothing after it."""
    monkeypatch.setattr(lock, "_unreachable", set())
    inventory = Inventory((["@local"], {}))
    state = PyinfraState(inventory, Config())
    local = inventory.get_host("@local")
    state.activate_host(local)
    add_op(state, python.call, name="confirm", function=firewall.confirm, seconds=10,
           rendered_conf=CONF, host=[local])
    add_op(state, server.shell, name="after", commands=["true"], host=[local])
    with pytest.raises(PyinfraError):  # its only host failed
        run_ops(state)
    confirm_op, after_op = (state.ops[local][h].operation_meta for h in local.op_hash_order)
    assert confirm_op.is_complete() and not confirm_op.did_succeed()
    assert not after_op.is_complete()
    # Its own answer, not an error of the call: the host had no revert armed to disarm.
    assert "had no revert of them armed" in caplog.text
    assert "Unexpected error in Python callback" not in caplog.text


def test_the_lock_of_a_host_cut_off_is_let_go_without_waiting(monkeypatch):
    """deploys/history.py waits for a host that ran operations to confirm its history line:
    not for one whose rules cut the run's connection, where no answer can come."""

    class Channel:  # the lock's channel on pyinfra's connection, as lock.release uses it
        ended = False

        def shutdown_write(self):
            self.ended = True

        def exit_status_ready(self):
            raise AssertionError("waited for an answer over a connection known cut")

    channel = Channel()
    monkeypatch.setattr(lock, "_unreachable", set())
    monkeypatch.setitem(lock._held, HOST, channel)
    lock.unreachable(HOST)
    assert lock.release(HOST, wait=10) is None and channel.ended
