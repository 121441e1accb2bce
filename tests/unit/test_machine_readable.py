"""What `deploy`, `diff` and `verify` tell a machine: the exit status of a dry run (0 nothing
would change, 3 something would, 1 a failure), and the --json documents, each held to its
schema in schemas/ (aitbc_infra/json_schema.py: `jsonschema` is not a dependency)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace

import pyinfra
import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.operation import add_op
from pyinfra.operations import server
from pyinfra_cli.prints import build_plan_json

from aitbc_infra import deploy, verify
from aitbc_infra.cli import build_parser
from aitbc_infra.decision import converged, decide
from aitbc_infra.deploy import CHECKED_PYINFRA, PyinfraRun, pyinfra_command
from aitbc_infra.deploy_report import DRIFT, FAILED, OK, document, exit_status
from aitbc_infra.json_schema import SchemaError, load, problems
from aitbc_infra.plan import host_plan
from aitbc_infra.summary import outcomes, run_results
from aitbc_infra.verify_report import PLUGIN, REPORT_ENV, verify_document

WALLET_ENV = "/etc/aitbc/aitbc-wallet-daemon.env"
SITE = "/etc/nginx/sites-available/aitbc.bubuit.net"


def assert_valid(document: dict, name: str) -> None:
    found = problems(document, load(name))
    assert found == [], "\n".join(found)


# The validator ------------------------------------------------------------------------------

SMALL = {"type": "object", "required": ["n", "kind"], "additionalProperties": False,
         "properties": {"n": {"type": "integer", "minimum": 0}, "kind": {"enum": [0, "x"]},
                        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
                        "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "one": {"const": 1}},
         "$defs": {"item": {"type": ["string", "null"], "enum": ["a", None]}}}


@pytest.mark.parametrize(("document", "problem"), [
    ({"n": 1, "kind": "x", "items": ["a", None], "maybe": None}, None),
    ({"kind": 0}, "$: 'n' is missing"),
    ({"n": -1, "kind": 0}, "$.n: -1 is below 0"),
    ({"n": True, "kind": 0}, "$.n: true is not of type integer"),
    ({"n": 1, "kind": False}, "$.kind: false is not one of [0, 'x']"),
    ({"n": 1, "kind": 0, "items": ["b"]}, """$.items[0]: "b" is not one of ['a', None]"""),
    ({"n": 1, "kind": 0, "one": True}, "$.one: true is not 1"),
    ({"n": 1, "kind": 0, "maybe": 3}, "$.maybe: matches none of the schemas it may match"),
    ({"n": 1, "kind": 0, "other": 1}, "$.other: not a property the schema allows"),
])
def test_the_validator_finds_each_kind_of_problem(document, problem):
    assert problems(document, SMALL) == ([problem] if problem else [])


def test_a_keyword_the_validator_does_not_understand_is_refused():
    with pytest.raises(SchemaError, match="pattern"):
        problems("x", {"type": "string", "pattern": "^x$"})
    with pytest.raises(SchemaError, match="only the schema's own"):
        problems("x", {"$ref": "other.json"})


def test_the_schemas_share_one_shape_of_the_decision():
    deploy_schema, diff_schema = load("deploy"), load("diff")
    assert deploy_schema["$defs"]["decision"] == diff_schema["$defs"]["decision"]
    assert deploy_schema["$defs"]["reasons"] == diff_schema["$defs"]["reasons"]


# The decision as data ----------------------------------------------------------------------


def _decision(fleet, node: str, edit):
    spec = fleet.hosts[node]
    plan = host_plan(fleet, spec)
    releases = {app.name: "r1" for app in spec.apps}
    state = converged(spec, plan, releases)
    edit(state)
    return decide(spec, plan, state, releases)


def _changed(*paths):
    def edit(state):
        for path in paths:
            state.paths[path] = replace(state.paths[path], sha256="0" * 64)
    return edit


def _decision_schema() -> dict:
    schema = load("deploy")
    return {**schema["$defs"]["decision"], "$defs": schema["$defs"]}


def test_the_decision_as_data_says_what_its_lines_say(fleet):
    def edit(state):
        _changed(WALLET_ENV, SITE)(state)
        state.units["aitbc-exchange-api"] = ("failed", "enabled")

    decision = _decision(fleet, "aitbc", edit)
    data = decision.as_dict()
    assert problems(data, _decision_schema()) == []
    assert data["lines"] == decision.lines()
    assert {(r["unit"], r["action"]) for r in data["restarts"]} == {
        ("aitbc-wallet-daemon", "restart"), ("aitbc-exchange-api", "start")}
    wallet = next(r for r in data["restarts"] if r["unit"] == "aitbc-wallet-daemon")
    assert (wallet["app"], wallet["reasons"]) == ("wallet-daemon", [f"{WALLET_ENV} changed"])
    assert data["reloads"] == [{"journal": "nginx", "effect": "nginx reload",
                                "reasons": [f"{SITE} changed"]}]
    assert (data["loads"], data["steps"], data["certificates"]) == ([], [], [])
    assert json.loads(json.dumps(data)) == data  # plain JSON data, as deploys/site.py records it


def test_nothing_owed_is_an_empty_decision(fleet):
    data = _decision(fleet, "at1", lambda state: None).as_dict()
    assert data == {"restarts": [], "reloads": [], "loads": [], "steps": [], "certificates": [],
                    "rollbacks": [], "databases": [], "lines": []}


# What the dry run's exit status rests on: pyinfra's plan ------------------------------------


def test_pyinfra_is_a_release_whose_dry_json_was_checked():
    assert pyinfra.__version__ in CHECKED_PYINFRA, (
        f"pyinfra {pyinfra.__version__}: read pyinfra_cli/cli.py (does --json force -y?) and "
        "prints.py (build_plan_json) again, then add it to aitbc_infra.deploy.CHECKED_PYINFRA")


def _plan(check_for_changes: bool) -> list[dict]:
    """pyinfra's plan of two operations on one host: one with a command to run, one without."""
    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config(), check_for_changes=check_for_changes)
    host = inventory.get_host("@local")
    state.activate_host(host)  # as connecting would: nothing runs anywhere
    add_op(state, server.shell, name="has a command", commands=["true"], host=[host])
    add_op(state, server.shell, name="has none", commands=[], host=[host])
    return build_plan_json(state)


def test_the_plan_names_the_hosts_an_operation_would_change_only_without_y():
    """`pyinfra --dry --json` (no -y: change detection on) names @local for the operation that
    has a command; with -y (change detection off) no host at all, whatever would change: the
    reason a dry run is not given -y."""
    plan = {op["name"]: op["hosts_with_change"] for op in _plan(check_for_changes=True)}
    assert plan == {"has a command": ["@local"], "has none": []}
    assert [op["hosts_with_change"] for op in _plan(check_for_changes=False)] == [[], []]


def test_a_dry_run_asks_for_the_plan_and_a_real_run_for_its_results(tmp_path):
    dry = pyinfra_command(tmp_path / "inventory.py", "--dry", "--diff")
    assert "--json" in dry and "-y" not in dry
    real = pyinfra_command(tmp_path / "inventory.py")
    assert real[1:3] == ["-y", "--json"]


# Exit status and the deploy document --------------------------------------------------------

LOG = "    [at1]       Connected\n    [aitbc]     Connected\n"
OWED = {"restarts": [{"unit": "aitbc-wallet-daemon", "app": "wallet-daemon", "action": "restart",
                      "reasons": [f"{WALLET_ENV} changed"]}],
        "reloads": [], "loads": [], "steps": [], "certificates": [], "rollbacks": [],
        "databases": [], "lines": [f"restart aitbc-wallet-daemon: {WALLET_ENV} changed"]}
NOTHING = {"restarts": [], "reloads": [], "loads": [], "steps": [], "certificates": [],
           "rollbacks": [], "databases": [], "lines": []}
RECORDS = {"at1": {"node": "at1", "decision": NOTHING}, "aitbc": {"node": "aitbc", "decision": OWED}}


def _dry(*ops, records=RECORDS, log=LOG) -> dict:
    plan = [{"op_hash": str(i), "name": name, "names": [name], "args": [],
             "hosts_with_change": hosts, "hosts_with_conditional_change": []}
            for i, (name, hosts) in enumerate(ops)]
    return run_results(json.dumps({"plan": plan, "results": None}), log, records)


def _real(changed: list[str], failed_hosts=(), records=RECORDS) -> dict:
    results = {"operations": [{"name": "wallet-daemon: activate release", "success": changed,
                               "no_change": [], "error": list(failed_hosts)}],
               "totals": {"hosts": 2, "success": len(changed), "error": len(failed_hosts),
                          "no_change": 0},
               "failed_hosts": list(failed_hosts)}
    return run_results(json.dumps({"plan": [], "results": results}), LOG, records)


@pytest.mark.parametrize(("case", "results", "returncode", "dry", "status"), [
    ("dry, nothing to do", lambda: _dry(records={"at1": {"decision": NOTHING}}), 0, True, OK),
    ("dry, an operation would run", lambda: _dry(("x", ["aitbc"]), records={}), 0, True, DRIFT),
    # Owed with no operation to carry it: still drift (the decision is the second witness).
    ("dry, only the decision owes", lambda: _dry(), 0, True, DRIFT),
    ("dry, a host unreachable", lambda: _dry(log=LOG + "    [x]  Could not connect (no route)\n"),
     1, True, FAILED),
    ("dry, pyinfra failed", lambda: _dry(), 1, True, FAILED),
    ("dry, the lock held", lambda: _dry(records={"at1": {"lock_holder": "ops@ci"}}), 0, True, FAILED),
    ("dry, stopped before any host", lambda: run_results("", "--> pyinfra error\n"), 1, True, FAILED),
    ("real, converged with changes", lambda: _real(["aitbc"]), 0, False, OK),
    ("real, a host failed", lambda: _real([], ["aitbc"]), 1, False, FAILED),
])
def test_exit_status(case, results, returncode, dry, status):
    rows = outcomes(results())
    assert exit_status(returncode, rows, dry) == status
    report = document(rows, dry=dry, returncode=returncode, inventory="inventory.py")
    assert_valid(report, "deploy")
    assert report["exit_code"] == status


def test_a_dry_run_document_names_the_restart_and_why():
    rows = outcomes(_dry(("wallet-daemon: activate release", ["aitbc"])))
    report = document(rows, dry=True, returncode=0, inventory="inventory.py")
    assert_valid(report, "deploy")
    assert (report["exit_code"], report["result"], report["changes"]) == (DRIFT, "changes", True)
    aitbc, at1 = report["hosts"]["aitbc"], report["hosts"]["at1"]
    assert (aitbc["result"], aitbc["changed"], aitbc["node"]) == ("changes", 1, "aitbc")
    assert aitbc["operations"] == [{"name": "wallet-daemon: activate release",
                                    "status": "would_change"}]
    assert aitbc["decision"]["restarts"] == OWED["restarts"]
    assert (at1["result"], at1["operations"], at1["failure"]) == ("no_changes", [], None)


def test_a_real_run_document_reports_what_ran_and_what_failed():
    rows = outcomes(_real(["aitbc"]))
    report = document(rows, dry=False, returncode=0, inventory="inventory.py")
    assert_valid(report, "deploy")
    assert (report["result"], report["hosts"]["aitbc"]["result"]) == ("converged", "converged")
    assert report["hosts"]["aitbc"]["operations"][0]["status"] == "changed"
    failed = document(outcomes(_real([], ["aitbc"])), dry=False, returncode=1, inventory="i.py")
    assert_valid(failed, "deploy")
    assert failed["hosts"]["aitbc"]["failure"] == "failed at: wallet-daemon: activate release"
    stopped = document([], dry=False, returncode=1, inventory="i.py")
    assert_valid(stopped, "deploy")
    assert (stopped["result"], stopped["hosts"]) == ("failed", {})
    assert "stopped before any host's result" in stopped["error"]


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"inventory": "inventory.py", "dry": True, "diff": False,
                                 "json": True, "message": None, "serial": False,
                                 "keep_rollbacks": False, **kw})


def test_deploy_json_prints_one_document_on_stdout_and_the_summary_on_stderr(monkeypatch, capsys):
    monkeypatch.setattr(deploy, "load_with_sources", lambda inventory: None)
    run = PyinfraRun(0, _dry(("wallet-daemon: activate release", ["aitbc"])))
    monkeypatch.setattr(deploy, "execute",
                        lambda inventory, *extra, message=None, keep_rollbacks=False: run)
    assert deploy.cmd_deploy(_args()) == DRIFT
    out, err = capsys.readouterr()
    assert_valid(json.loads(out), "deploy")  # the whole of stdout is the document
    assert "--> Dry run: 1 of 2 host(s) would change: aitbc" in err
    assert deploy.cmd_deploy(_args(json=False)) == DRIFT
    out, _ = capsys.readouterr()
    assert "would run: wallet-daemon: activate release" in out


def test_the_exit_statuses_are_in_the_help():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["deploy"].format_help().split())
    assert ("Exit status: 0 converged (with --dry: nothing would change on any host); "
            "3 with --dry only") in text
    assert "schemas/deploy.json" in text
    for command in ("diff", "verify"):
        assert "--json" in sub.choices[command].format_help()


# verify --json ------------------------------------------------------------------------------

SUITE = '''
import pytest

@pytest.mark.parametrize(("node", "thing"), [("at1", 1), ("aitbc", 2)], ids=["at1: one", "aitbc: two"])
def test_check(node, thing):
    assert thing == 1, f"{node}: {thing} is not one"

@pytest.mark.parametrize(("node", "thing"), [("at1", 3)], ids=["at1: skipped"])
def test_skipped(node, thing):
    pytest.skip("nothing declared")
'''


def test_the_plugin_reports_each_check_by_host(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", PLUGIN, str(tmp_path / "test_suite.py")], cwd=tmp_path,
                          env={**_env(), REPORT_ENV: str(report)}, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = json.loads(report.read_text())
    doc = verify_document(found, proc.returncode, "inventory.py")
    assert_valid(doc, "verify")
    assert (doc["result"], doc["exit_code"]) == ("failed", 1)
    assert doc["totals"] == {"checks": 3, "passed": 1, "failed": 1, "skipped": 1, "not_run": 0}
    assert doc["hosts"] == {"aitbc": {"passed": 0, "failed": 1, "skipped": 0, "not_run": 0},
                            "at1": {"passed": 1, "failed": 0, "skipped": 1, "not_run": 0}}
    failed = next(c for c in doc["checks"] if c["outcome"] == "failed")
    assert (failed["host"], failed["check"], failed["test"]) == ("aitbc", "aitbc: two", "test_check")
    assert failed["message"].startswith("AssertionError: aitbc: 2 is not one")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(deploy.PROJECT_ROOT / "src")}


def test_a_suite_that_did_not_run_to_its_end_is_an_error():
    doc = verify_document(None, 2, "inventory.py")
    assert_valid(doc, "verify")
    assert (doc["result"], doc["exit_code"], doc["checks"]) == ("error", 1, [])
    no_checks = verify_document({"exit_status": 5, "checks": [], "errors": []}, 5, "inventory.py")
    assert (no_checks["result"], no_checks["exit_code"]) == ("error", 1)


def test_verify_json_prints_the_document_alone(monkeypatch, capsys, tmp_path):
    check = {"host": "at1", "check": "at1: nginx -t", "test": "test_nginx_config_valid",
             "outcome": "passed", "message": None}

    def suite(inventory, *pytest_args, junit_xml=None, outside_view=None, report=None):
        report.write_text(json.dumps({"exit_status": 0, "checks": [check], "errors": []}))
        return 0

    monkeypatch.setattr(verify, "verify_fleet", suite)
    args = argparse.Namespace(inventory="inventory.py", exitfirst=False, junit_xml=None, json=True)
    assert verify.cmd_verify(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert_valid(doc, "verify")
    assert doc["hosts"] == {"at1": {"passed": 1, "failed": 0, "skipped": 0, "not_run": 0}}
