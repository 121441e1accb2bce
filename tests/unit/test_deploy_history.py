"""Each host's deploy history: the line a run leaves (built, encoded, bounded whatever a message
holds), how the host keeps it (deploys/scripts/history-add.sh behind the deploy lock, run here
under `sh`), how `aitbc-infra history` reads it back (a corrupt line skipped and named, never a
crash) and shows it (table, JSON document), and the command line's refusals before anything
connects. The whole round against real hosts is tests/sandbox/test_history.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api import Config, Inventory
from pyinfra.api import State as PyinfraState
from pyinfra.api.operation import add_op
from pyinfra.api.state import StateStage
from pyinfra.operations import server

from aitbc_infra import PROJECT_ROOT, deploy, history_command, loader
from aitbc_infra.cli import main
from aitbc_infra.decision import Decision, converged, decide
from aitbc_infra.drift import PathState
from aitbc_infra.history import (
    FAILED,
    INTERRUPTED,
    LINE_MAX,
    MESSAGE_ENV,
    MESSAGE_MAX,
    OK,
    OPERATOR_ENV,
    Operation,
    Run,
    changes,
    check_text,
    describe_holder,
    encode,
    entry,
    finished,
    holder,
    outcome,
    parse_log,
    printable,
    releases_before,
    source_commit,
    sources_commit,
)
from aitbc_infra.history_command import Gathered, document, gather, read_command, table
from aitbc_infra.host_names import DEPLOY_HISTORY, release_link
from aitbc_infra.json_schema import load, problems
from aitbc_infra.plan import host_plan
from aitbc_infra.remote import connections, ssh_argv
from aitbc_infra.render import redacted
from deploys import history as deploy_history
from deploys.lock import BUSY, READ_END, lock_command
from deploys.shell import script

# Messages a person might type or paste, every one a single printable line.
MESSAGES = [
    'fix "quotes" and \\backslashes\\',
    "}{\"v\":2} ,\"result\":\"ok\"",  # JSON of its own
    "$(touch PWNED) `id` ; rm -rf / #",
    "naïve café — 日本語 🚀 ",
    "x" * MESSAGE_MAX,
]
# What must never reach a line, or a terminal, as it is.
CONTROL = ["two\nlines", "a\rb", "tab\there", "bell\a", "esc \x1b[31mred", "nul\0",
           "line\u2028separator", "para\u2029graph", "rtl \u202eevil", "del\x7f", "c1 \x9b31m"]


def _run(message: str | None = "why", operator: str = "ops@ci") -> Run:
    return Run(operator, message, Run.now(None).started, 4242)


def _line(message: str | None = "why", result: str = OK, **changed) -> dict:
    base = {"releases": {}, "restarts": [], "reloads": [], "loads": [], "certificates": [],
            "databases": []}
    line = entry(_run(message), {"project": "4c343f63d8d6+dirty", "sources": None},
                 {**base, **changed})
    return finished(line, result, None if result == OK else "wallet-daemon: activate release",
                    2.34, 1)


# Input: refused before anything connects ----------------------------------------------------


@pytest.mark.parametrize("text", CONTROL)
def test_a_message_with_a_control_character_is_refused_naming_it(text):
    with pytest.raises(Exception, match=r"--message: character \d+ is U\+[0-9A-F]{4}, a "):
        check_text("--message", text, MESSAGE_MAX)


@pytest.mark.parametrize("text", MESSAGES)
def test_a_printable_message_is_kept_as_it_is(text):
    assert check_text("--message", text, MESSAGE_MAX) == text


def test_a_message_too_long_or_empty():
    with pytest.raises(Exception, match=f"501 characters, at most {MESSAGE_MAX}"):
        check_text("--message", "x" * (MESSAGE_MAX + 1), MESSAGE_MAX)
    assert check_text("--message", "", MESSAGE_MAX) is None


def _no_connection(*args, **kwargs):
    raise AssertionError("bad input reached the inventory or pyinfra")


@pytest.mark.parametrize("argv", [["--message", "a\nb"], ["-m", "x" * (MESSAGE_MAX + 1)],
                                  ["--dry", "--message", "\x1b]0;pwned\a"]])
def test_deploy_refuses_a_bad_message_before_anything(monkeypatch, capsys, argv):
    monkeypatch.setattr(deploy, "load_with_sources", _no_connection)
    monkeypatch.setattr(deploy, "execute", _no_connection)
    assert main(["deploy", "--inventory", "inventory.py", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aitbc-infra deploy: error: --message: ")
    assert "\x1b" not in err and "\a" not in err.replace("U+0007", "")


def test_deploy_refuses_a_bad_operator_or_environment_message(monkeypatch, capsys):
    monkeypatch.setattr(deploy, "load_with_sources", _no_connection)
    monkeypatch.setattr(deploy, "execute", _no_connection)
    monkeypatch.setenv(OPERATOR_ENV, "ops\n@ci")
    assert main(["deploy", "--inventory", "inventory.py", "-m", "fine"]) == 2
    assert f"{OPERATOR_ENV}: character 4 is U+000A" in capsys.readouterr().err
    monkeypatch.delenv(OPERATOR_ENV)
    monkeypatch.setenv(MESSAGE_ENV, "from\tthe environment")
    assert main(["deploy", "--inventory", "inventory.py"]) == 2
    assert f"{MESSAGE_ENV}: character 5 is U+0009" in capsys.readouterr().err


def test_deploy_hands_the_message_to_pyinfra(monkeypatch):
    seen = {}

    class Done:
        returncode = 0
        results = {"operations": [], "failed_hosts": [], "hosts": []}

    def execute(inventory, *extra, message=None, keep_rollbacks=False):
        seen.update(message=message, keep_rollbacks=keep_rollbacks)
        return Done()

    monkeypatch.setattr(deploy, "load_with_sources", lambda inventory: None)
    monkeypatch.setattr(deploy, "execute", execute)
    main(["deploy", "--inventory", "inventory.py", "--message", MESSAGES[3]])
    assert seen == {"message": MESSAGES[3], "keep_rollbacks": False}
    main(["deploy", "--inventory", "inventory.py", "--keep-rollbacks"])
    assert seen == {"message": None, "keep_rollbacks": True}


def test_a_plain_pyinfra_run_is_stopped_by_a_bad_environment_message(monkeypatch, capsys):
    """`pyinfra inventory.py deploys/site.py` runs the inventory's own validation first."""
    monkeypatch.setenv(MESSAGE_ENV, "a\x1b[2Jb")
    monkeypatch.setattr(loader, "load_pyinfra_inventory", _no_connection)
    with pytest.raises(SystemExit) as stopped:
        loader.validate_inventory(str(PROJECT_ROOT / "inventory.py"))
    assert stopped.value.code == 2
    assert f"{MESSAGE_ENV}: character 2 is U+001B, a control character" in capsys.readouterr().err


# The line ----------------------------------------------------------------------------------


@pytest.mark.parametrize("message", [*MESSAGES, *CONTROL, None])
def test_a_line_is_one_line_of_ascii_json_whatever_it_holds(message):
    """Even a value no check let through (CONTROL) stays inside its JSON string."""
    line = _line(message, restarts=[{"unit": "u\n", "app": "a", "action": "restart",
                                     "reasons": [f"/etc/aitbc/{message}.env changed"]}])
    text = encode(line)
    assert "\n" not in text and "\r" not in text and text.isascii() and text.isprintable()
    assert json.loads(text) == line
    assert json.loads(text)["message"] == message


def test_a_line_says_what_it_holds():
    line = json.loads(encode(_line("deploy 42", FAILED)))
    assert line == {
        "v": 1, "kind": "deploy", "time": line["time"], "seconds": 2.3, "operator": "ops@ci",
        "message": "deploy 42", "commits": {"project": "4c343f63d8d6+dirty", "sources": None},
        "changes": {"releases": {}, "restarts": [], "reloads": [], "loads": [],
                    "certificates": [], "databases": [], "operations": 1},
        "result": "failed", "step": "wallet-daemon: activate release"}
    assert len(line["time"]) == 20 and line["time"].endswith("Z") and line["time"][10] == "T"


def test_a_huge_decision_is_cut_to_fit_reasons_first():
    restarts = [{"unit": f"unit-{i}", "app": "a", "action": "restart",
                 "reasons": [f"/etc/aitbc/unit-{i}.env changed"] * 20} for i in range(200)]
    text = encode(_line(restarts=restarts))
    assert len(text) < LINE_MAX
    cut = json.loads(text)["changes"]
    assert cut["truncated"] is True and [r["unit"] for r in cut["restarts"]][:2] == ["unit-0", "unit-1"]
    assert "reasons" not in cut["restarts"][0]
    many = [{"unit": "u" * 200, "app": "a", "action": "restart", "reasons": []}] * 2000
    text = encode(_line("x" * MESSAGE_MAX, restarts=many))
    assert len(text) < LINE_MAX and json.loads(text)["changes"]["truncated"] is True
    assert json.loads(text)["message"] == "x" * MESSAGE_MAX


def test_an_outcome_names_the_failed_or_first_unrun_operation():
    def op(name, complete=True, succeeded=True, changed=True):
        return Operation(name, complete, succeeded, changed)

    assert outcome([]) == (OK, None, 0)
    assert outcome([op("a"), op("b", changed=False)]) == (OK, None, 1)
    assert outcome([op("a"), op("b", succeeded=False), op("c", complete=False)]) == (FAILED, "b", 1)
    assert outcome([op("a"), op("b", complete=False), op("c", complete=False)]) == (INTERRUPTED, "b", 1)


@pytest.fixture
def pyinfra_run(monkeypatch):
    """pyinfra's state of a run on @local with three operations, built offline; what
    deploys/history.py hands the lock (sent lines, releases) is recorded instead of sent."""
    inventory = Inventory((["@local"], {}))
    state = PyinfraState(inventory, Config())
    host = inventory.get_host("@local")
    state.activate_host(host)
    for name in ("first", "second", "third"):
        add_op(state, server.shell, name=name, commands=["true"], host=[host])
    said = []
    monkeypatch.setattr(deploy_history.lock, "send", lambda name, line: said.append(("send", name, line)))
    monkeypatch.setattr(deploy_history.lock, "release",
                        lambda name, wait: said.append(("release", name, wait)))
    monkeypatch.setitem(deploy_history._drafts, "@local",
                        deploy_history._Draft(entry(_run("m"), {"project": "c"}, {}), started=0.0))
    return SimpleNamespace(state=state, host=host, said=said,
                           metas=[state.ops[host][h].operation_meta for h in host.op_hash_order])


def test_the_operations_are_read_from_pyinfras_state(pyinfra_run):
    """deploys/history.py reads each operation's end from pyinfra's own state, offline here."""
    pyinfra_run.metas[0].set_complete(True, ["true"], None)
    pyinfra_run.metas[1].set_complete(False, ["false"], None)
    found = deploy_history._operations(pyinfra_run.state, pyinfra_run.host)
    assert [(o.name, o.complete, o.succeeded, o.changed) for o in found] == [
        ("first", True, True, True), ("second", True, False, False),
        ("third", False, False, False)]
    assert outcome(found) == (FAILED, "second", 1)


def test_the_first_operation_sends_the_interrupted_line_once(pyinfra_run):
    for op_hash in pyinfra_run.host.op_hash_order:
        deploy_history._Callbacks.operation_host_start(pyinfra_run.state, pyinfra_run.host, op_hash)
    assert [(verb, json.loads(line)["result"]) for verb, _, line in pyinfra_run.said] == [
        ("send", INTERRUPTED)]


def test_the_end_sends_the_result_and_waits_for_the_host(pyinfra_run):
    pyinfra_run.state.current_stage = StateStage.Disconnect
    pyinfra_run.metas[0].set_complete(True, ["true"], None)
    pyinfra_run.metas[1].set_complete(False, ["false"], None)
    deploy_history._Callbacks.host_disconnect(pyinfra_run.state, pyinfra_run.host)
    (verb, name, line), release = pyinfra_run.said
    assert (verb, name) == ("send", "@local")
    assert release == ("release", "@local", deploy_history.CONFIRM_SECONDS)
    line = json.loads(line)
    assert (line["result"], line["step"], line["changes"]["operations"]) == (FAILED, "second", 1)
    assert "@local" not in deploy_history._drafts


def test_a_run_without_operations_does_not_wait(pyinfra_run):
    """A converged host runs no operation: its line goes out, nothing is awaited."""
    pyinfra_run.state.current_stage = StateStage.Disconnect
    pyinfra_run.host.op_hash_order.clear()
    deploy_history._Callbacks.host_disconnect(pyinfra_run.state, pyinfra_run.host)
    (_, _, line), release = pyinfra_run.said
    assert release == ("release", "@local", None)
    assert (json.loads(line)["result"], json.loads(line)["changes"]["operations"]) == (OK, 0)


def test_a_dry_run_sends_nothing(pyinfra_run):
    pyinfra_run.state.current_stage = StateStage.Prepare
    deploy_history._Callbacks.host_disconnect(pyinfra_run.state, pyinfra_run.host)
    assert pyinfra_run.said == [("release", "@local", None)]


def test_a_history_that_cannot_be_written_never_fails_the_run(pyinfra_run, monkeypatch, caplog):
    def broken(name, line):
        raise OSError("Socket is closed")

    monkeypatch.setattr(deploy_history.lock, "send", broken)
    pyinfra_run.state.current_stage = StateStage.Disconnect
    deploy_history._Callbacks.host_disconnect(pyinfra_run.state, pyinfra_run.host)
    assert "deploy history not written: OSError: Socket is closed" in caplog.text


def test_releases_before_and_after_and_the_decision(fleet):
    spec = fleet.hosts["aitbc"]
    plan = host_plan(fleet, spec, redacted)
    releases = {app.name: f"new-{app.name}" for app in spec.apps}
    state = converged(spec, plan, releases)
    wallet = next(a for a in spec.apps if a.name == "wallet-daemon")
    state.paths[wallet.venv] = PathState("l", "0777", "root", "root", release_link("old"))
    before = releases_before(spec, state)
    assert before["wallet-daemon"] == "old"
    found = changes(decide(spec, plan, state, releases), before, releases)
    assert found["releases"] == {"wallet-daemon": {"before": "old", "after": "new-wallet-daemon"}}
    assert {r["unit"] for r in found["restarts"]} == {s.started_unit for s in wallet.services}
    assert all(r["reasons"] for r in found["restarts"])
    state.paths.pop(wallet.venv)
    assert releases_before(spec, state)["wallet-daemon"] is None
    assert changes(Decision({}, {}, {}), {}, {}) == {
        "releases": {}, "restarts": [], "reloads": [], "loads": [], "steps": [],
        "certificates": [], "databases": []}


def test_commits_of_a_git_tree_and_of_none(tmp_path):
    assert source_commit(tmp_path) == "unknown"
    assert sources_commit(tmp_path, PROJECT_ROOT) is None
    assert sources_commit(PROJECT_ROOT / "payload", PROJECT_ROOT) is None  # the project's tree
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f").write_text("one")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert source_commit(tmp_path) == sources_commit(tmp_path, PROJECT_ROOT) == head
    (tmp_path / "f").write_text("two")
    assert source_commit(tmp_path) == f"{head}+dirty"


# The host's log: kept behind the deploy lock ----------------------------------------------


def _deploy_run(tmp_path: Path, *lines: str, keep: int = 10, then: str = "true") -> int:
    """One run as the lock runs it: take the lock, read, get the run's lines, let go."""
    after = script("history-add", str(tmp_path / "state" / "history.jsonl"), str(keep),
                   str(LINE_MAX))
    proc = subprocess.Popen(["/bin/sh", "-c", lock_command(holder(_run()), str(tmp_path / "lock"),
                                                           str(tmp_path / "holder"),
                                                           then=then, after=after)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    assert proc.stdout.readline() == "locked\n"
    for line in lines:
        proc.stdin.write(line + "\n")
    proc.stdin.close()
    proc.wait(timeout=10)
    assert not (tmp_path / "holder").exists()
    return proc.returncode


def _log(tmp_path: Path) -> list[str]:
    return (tmp_path / "state" / "history.jsonl").read_text().splitlines()


@pytest.mark.parametrize("message", [*MESSAGES, *CONTROL])
def test_a_line_reaches_the_log_and_reads_back_as_it_was(tmp_path, message):
    line = _line(message)
    assert _deploy_run(tmp_path, encode(line)) == 0
    assert _log(tmp_path) == [encode(line)]
    read = subprocess.run(["/bin/sh", "-c", read_command(None, str(tmp_path / "state" / "history.jsonl"))],
                          capture_output=True, text=True, check=True).stdout
    entries, skipped = parse_log("aitbc", read)
    assert skipped == [] and [e.data for e in entries] == [line]
    assert not list(tmp_path.rglob("PWNED"))


def test_the_last_whole_line_sent_wins(tmp_path):
    """The "interrupted" line goes out as the first operation starts, the final one at the end."""
    first, final = encode(_line("m", INTERRUPTED)), encode(_line("m", OK))
    assert _deploy_run(tmp_path, first, final) == 0
    assert _log(tmp_path) == [final]
    assert _deploy_run(tmp_path, first) == 0  # killed after its first operation began
    assert _log(tmp_path) == [final, first]


def test_a_run_that_sends_nothing_leaves_the_log_alone(tmp_path):
    """A dry run, or one killed before its first operation: no line."""
    assert _deploy_run(tmp_path) == 0
    assert not (tmp_path / "state").exists()
    assert _deploy_run(tmp_path, encode(_line())) == 0
    assert _deploy_run(tmp_path) == 0
    assert len(_log(tmp_path)) == 1


def test_the_log_keeps_its_last_lines_only(tmp_path):
    for i in range(14):
        assert _deploy_run(tmp_path, encode(_line(f"run {i}")), keep=10) == 0
    kept = [json.loads(line)["message"] for line in _log(tmp_path)]
    assert kept == [f"run {i}" for i in range(4, 14)]
    assert not list((tmp_path / "state").glob("*.aitbc-new"))
    read = subprocess.run(["/bin/sh", "-c", read_command(3, str(tmp_path / "state" / "history.jsonl"))],
                          capture_output=True, text=True, check=True).stdout
    assert [line.split("\t")[0] for line in read.splitlines()] == ["8", "9", "10"]


def test_a_line_cut_short_in_the_log_is_not_glued_to_the_next(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "history.jsonl").write_text('{"v":1,"cut sh')  # a crash mid-write
    assert _deploy_run(tmp_path, encode(_line())) == 0
    assert _log(tmp_path) == ['{"v":1,"cut sh', encode(_line())]


@pytest.mark.parametrize("sent", ["x" * (LINE_MAX + 1), "not json", '{"v":1'])
def test_the_host_refuses_a_line_too_long_or_not_an_object(tmp_path, sent):
    assert _deploy_run(tmp_path, encode(_line("before"))) == 0
    assert _deploy_run(tmp_path, sent) == 1  # said to the run, which logs it
    assert [json.loads(line)["message"] for line in _log(tmp_path)] == ["before"]


def test_the_read_under_the_lock_cannot_take_the_runs_line(tmp_path):
    assert _deploy_run(tmp_path, encode(_line()), then="cat; echo read") == 0
    assert len(_log(tmp_path)) == 1


def test_a_missing_log_reads_as_no_history(tmp_path):
    done = subprocess.run(["/bin/sh", "-c", read_command(5, str(tmp_path / "none.jsonl"))],
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "")


def test_the_log_is_named_once(fleet):
    assert DEPLOY_HISTORY.startswith("/var/lib/aitbc/")
    assert deploy_history.append_command(fleet.hosts["at1"]).split()[-2:] == [
        str(fleet.hosts["at1"].rollout.history_lines), str(LINE_MAX)]


# Who holds the lock ---------------------------------------------------------------------------


def test_a_held_lock_names_its_holder_its_message_and_since_when(tmp_path):
    run = _run("rotating keys \x1b[31m")  # a value no check let through still prints inert
    first = subprocess.Popen(["/bin/sh", "-c", lock_command(holder(run), str(tmp_path / "lock"),
                                                            str(tmp_path / "holder"))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline() == "locked\n"
        second = subprocess.run(["/bin/sh", "-c", lock_command("other", str(tmp_path / "lock"),
                                                               str(tmp_path / "holder"))],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True)
        assert second.returncode == BUSY
        said = describe_holder(second.stdout)
        assert said == f'ops@ci (pid 4242, since {run.time}): "rotating keys \\u001b[31m"'
    finally:
        first.stdin.close()
        first.wait(timeout=10)


@pytest.mark.parametrize(("recorded", "said"), [
    ("ops@elsewhere (pid 4242)\n", "ops@elsewhere (pid 4242)"),  # an older deploy's words
    ("", "another deploy"),
    ("\x1b[2J", "\\x1b[2J"),
    ('{"operator": 3}', '{"operator": 3}'),
    ('{"operator": "a", "pid": 1, "since": "T", "message": null}', "a (pid 1, since T)"),
])
def test_a_holder_is_described_whatever_its_file_holds(recorded, said):
    assert describe_holder(recorded) == said


def test_the_lock_commands_status_is_its_after_steps(tmp_path):
    command = lock_command("me", str(tmp_path / "lock"), str(tmp_path / "holder"), after="exit 7")
    done = subprocess.run(["/bin/sh", "-c", command], input="", capture_output=True, text=True)
    assert done.returncode == 7 and done.stdout == f"locked\n{READ_END}0\n"


# Reading it back --------------------------------------------------------------------------------


CORRUPT = [
    ("not json at all", "not JSON (Expecting value at column 1)"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"v": 2, "time": "x"}', "version 2, this aitbc-infra reads 1"),
    ('{"v": 1}', "no time, seconds, operator, message, commits, changes, result, step"),
    ('{"v": 1, "time": 5}', "no seconds, operator, message, commits, changes, result, step"),
]


def _numbered(*lines: str, start: int = 1) -> str:
    return "".join(f"{i}\t{line}\n" for i, line in enumerate(lines, start))


@pytest.mark.parametrize(("line", "problem"), CORRUPT)
def test_a_corrupt_line_is_skipped_and_named(line, problem):
    good = encode(_line())
    entries, skipped = parse_log("aitbc", _numbered(good, line, good))
    assert [e.line for e in entries] == [1, 3]
    assert skipped == [f"aitbc: line 2: {problem}"]


def test_a_line_with_wrong_values_is_skipped_and_named():
    line = _line()
    cases = [({**line, "time": 5}, "$.time: 5 is not of type string"),
             ({**line, "result": "\x1bbad"},
              "$.result: \"\\u001bbad\" is not one of ['ok', 'failed', 'interrupted']"),
             ({**line, "commits": {"project": 1}}, "$.commits: 'sources' is missing"),
             ({**line, "seconds": True}, "$.seconds: true is not of type number or null"),
             ({**line, "changes": {"releases": [1]}}, "$.changes.releases: [1] is not of type object"),
             ({**line, "changes": {"restarts": [{"unit": 1}]}},
              "$.changes.restarts[0].unit: 1 is not of type string")]
    for bad, problem in cases:
        _, skipped = parse_log("at1", _numbered(json.dumps(bad)))
        assert skipped == [f"at1: line 1: {problem}"]
    _, skipped = parse_log("at1", "garbage without a number\n")
    assert skipped == ["at1: unexpected output of the log's read: 'garbage without a number'"]


def test_no_byte_sequence_crashes_the_reader():
    noise = ["\0\xff", "{" * 10000, "a\x1cb\u2028c\rd", "1\t2\t3", "\t", "\udcff",
             '{"v":1,"time":"t","operator":"o","message":null,"commits":{},'
             '"changes":[],"result":"ok","step":null,"seconds":null}']
    entries, skipped = parse_log("h", _numbered(*noise))
    assert entries == [] and len(skipped) == len(noise)


UNREACHABLE = "ssh: connect to host x port 22: No route to host"


def _runner(logs: dict[str, str | None]):
    """A Runner whose hosts print `logs` (None: a host ssh cannot reach)."""
    def run(node, command):
        if logs[node] is None:
            return subprocess.CompletedProcess([], 255, "", f"{UNREACHABLE}\n")
        return subprocess.CompletedProcess([], 0, logs[node], "")
    return run


def _gathered(**logs) -> Gathered:
    return gather(list(logs), _runner(logs))


def test_the_table_lists_every_host_newest_last():
    old, new = _line("first run"), _line("second \x1b]0;run")
    old["time"], new["time"] = "2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"
    release = {"before": "0123456789abcdef", "after": "fedcba9876543210"}
    change = _line("env change", releases={"wallet-daemon": release},
                   restarts=[{"unit": "aitbc-wallet-daemon", "app": "wallet-daemon", "action": "restart",
                              "reasons": ["/etc/aitbc/aitbc-wallet-daemon.env changed"]},
                             {"unit": "aitbc-coordinator-api", "app": "coordinator-api", "action": "socket",
                              "reasons": ["socket changed"]}],
                   reloads=[{"journal": "nginx", "reasons": ["x"]}])
    change["time"] = "2026-01-01T12:00:00Z"
    failed = _line("broken", FAILED)
    failed["time"] = "2026-01-01T11:00:00Z"
    found = _gathered(at1=_numbered(encode(old), encode(new)),
                         aitbc=_numbered(encode(failed), encode(change), "junk", start=7))
    assert [(e.host, e.line) for e in found.entries] == [("at1", 1), ("aitbc", 7), ("aitbc", 8), ("at1", 2)]
    assert found.skipped == ["aitbc: line 9: not JSON (Expecting value at column 1)"]
    text = table(found.entries)
    lines = text.splitlines()
    assert lines[0].split() == ["TIME", "HOST", "OPERATOR", "COMMIT", "MESSAGE", "CHANGED", "RESULT"]
    assert lines[1].split()[:6] == ["2026-01-01T10:00:00Z", "at1", "ops@ci", "4c343f63d8d6+dirty",
                                    "first", "run"]
    assert lines[1].endswith(" ok") and "1 operation(s) changed the host" in lines[1]  # a file written
    assert lines[2].endswith("FAILED at wallet-daemon: activate release")
    assert "wallet-daemon 0123456789ab -> fedcba987654" in lines[3] and lines[3].endswith("  ok")
    column = lines[3].index("wallet-daemon 0123")
    assert lines[4][column:] == "restart aitbc-wallet-daemon"
    assert lines[5][column:] == "restart aitbc-coordinator-api.socket and aitbc-coordinator-api"
    assert lines[6][column:] == "reload nginx"
    assert lines[7].startswith("2026-01-02T10:00:00Z  at1") and "second \\x1b]0;run" in lines[7]
    assert "\x1b" not in text


def test_a_nothing_changed_run_says_so():
    line = _line("no-op")
    line["changes"]["operations"] = 0
    found = _gathered(at1=_numbered(encode(line)))
    assert table(found.entries).splitlines()[1].endswith("nothing changed  ok")


def test_changes_of_the_wrong_shape_are_skipped_and_named():
    """A line is held to the shape of an entry of `history --json`: what the table and the
    document show always has it."""
    line = _line()
    line["changes"] = {"releases": {}, "restarts": "x", "reloads": [None]}
    found = _gathered(at1=_numbered(json.dumps(line)))
    assert found.entries == []
    assert found.skipped == ['at1: line 1: $.changes.restarts: "x" is not of type array']
    assert table([]).split() == ["TIME", "HOST", "OPERATOR", "COMMIT", "MESSAGE", "CHANGED", "RESULT"]


def test_roles_and_databases_made_show_in_the_table():
    line = _line(databases=[
        {"kind": "role", "name": "aitbc_pool", "action": "set", "reasons": ["its password ..."]},
        {"kind": "database", "name": "aitbc_pool", "action": "create", "reasons": ["missing"]},
        {"kind": "database", "name": "aitbc_log", "action": "owner", "reasons": ["owned by x"]}])
    found = _gathered(at1=_numbered(encode(line)))
    assert found.skipped == []
    assert problems(document(found, "i"), load("history")) == []
    text = table(found.entries)
    for item in ("set role aitbc_pool", "create database aitbc_pool",
                 "give database aitbc_log its owner"):
        assert item in text, text


def test_a_truncated_line_says_so_in_the_table():
    line = _line()
    line["changes"] = {"releases": {}, "restarts": [{"unit": "u", "action": "start"}], "truncated": True}
    found = _gathered(at1=_numbered(encode(line)))
    assert found.skipped == []
    text = table(found.entries)
    assert "start u" in text and "(details cut to fit the line)" in text


def test_the_document_holds_to_its_schema_and_names_unreadable_hosts():
    found = _gathered(at1=_numbered(encode(_line("a")), "junk"), aitbc=None, ns3=_numbered())
    doc = document(found, "inventory.py")
    assert problems(doc, load("history")) == []
    assert doc["exit_code"] == 1
    assert doc["unreadable"] == {"aitbc": UNREACHABLE}
    assert doc["skipped"] == ["at1: line 2: not JSON (Expecting value at column 1)"]
    assert [(e["host"], e["line"], e["message"]) for e in doc["entries"]] == [("at1", 1, "a")]
    assert document(_gathered(at1=""), "i")["exit_code"] == 0


def test_the_limit_keeps_the_newest_of_all_hosts():
    lines = []
    for i in range(4):
        line = _line(f"run {i}")
        line["time"] = f"2026-01-0{i + 1}T00:00:00Z"
        lines.append(encode(line))
    commands = []

    def run(node, command):
        commands.append(command)
        mine = lines[0::2] if node == "a" else lines[1::2]
        return subprocess.CompletedProcess([], 0, _numbered(*mine), "")

    found = gather(["a", "b"], run, limit=3)
    assert [e.data["message"] for e in found.entries] == ["run 1", "run 2", "run 3"]
    assert commands == [read_command(3)] * 2 and "-v n=3" in commands[0]


# The command line -------------------------------------------------------------------------------


def _status(argv: list[str]) -> int:
    """main's exit status, argparse's own refusals (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(("argv", "error"), [
    (["--limit", "0"], "argument --limit: 0 is not between 1 and 100000"),
    (["--limit", "x"], "argument --limit: 'x' is not a whole number"),
    (["--host", "nowhere"], "--host 'nowhere': not a host of inventory.py (its hosts: at1, aitbc, "
                            "ns3-root, ns3-aitbc)"),
    (["--inventory", "missing.py"], "missing.py: inventory file not found"),
])
def test_history_refuses_bad_input_before_any_connection(monkeypatch, capsys, argv, error):
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setattr(history_command, "gather", _no_connection)
    inventory = [] if "--inventory" in argv else ["--inventory", "inventory.py"]
    assert _status(["history", *inventory, *argv]) == 2
    assert error in capsys.readouterr().err


def test_history_prints_the_table_or_the_document(capsys):
    logs = {"at1": _numbered(encode(_line("hello"))), "aitbc": None}

    def connect(inventory):
        return list(logs), _runner(logs)

    args = SimpleNamespace(inventory=Path("inv.py"), host=None, limit=None, json=False)
    assert history_command.cmd_history(args, connect) == 1
    out, err = capsys.readouterr()
    assert "hello" in out.splitlines()[1]
    assert err == f"aitbc-infra history: aitbc: cannot read its history: {UNREACHABLE}\n"
    args.json, args.host = True, "at1"
    assert history_command.cmd_history(args, connect) == 0
    doc = json.loads(capsys.readouterr().out)
    assert problems(doc, load("history")) == [] and doc["unreadable"] == {}
    assert [e["message"] for e in doc["entries"]] == ["hello"]
    logs["at1"] = ""
    args.json = False
    assert history_command.cmd_history(args, connect) == 0
    assert capsys.readouterr().out == "no deploy recorded on at1\n"


# Reaching the hosts -----------------------------------------------------------------------------


def test_hosts_are_reached_as_pyinfra_reaches_them_strictly():
    argv = ssh_argv("aitbc", {"ssh_hostname": "-oProxyCommand=x", "ssh_user": "root",
                              "ssh_port": 2222, "ssh_key": "/k", "ssh_config_file": "/c",
                              "ssh_known_hosts_file": "/kh"})
    assert argv[:7] == ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                        "-o", "ConnectTimeout=10"]
    assert argv[-2:] == ["--", "-oProxyCommand=x"]  # a host name is never an option
    assert {"-F", "/c", "-i", "/k", "UserKnownHostsFile=/kh", "-p", "2222", "-l", "root"} <= set(argv)
    assert ssh_argv("ns3", {})[-2:] == ["--", "ns3"]
    found = connections(PROJECT_ROOT / "inventory.py")
    assert list(found) == ["at1", "aitbc", "ns3-root", "ns3-aitbc"]
    assert found["at1"][-2:] == ["--", "localhost"]


def test_printable_escapes_what_a_terminal_acts_on():
    assert printable("a\x1b[31mb\u202ec\n") == "a\\x1b[31mb\\u202ec\\n"
    assert printable("naïve 日本 🚀") == "naïve 日本 🚀"
