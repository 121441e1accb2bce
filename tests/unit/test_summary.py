"""The per-host summary a deploy ends with, from pyinfra's JSON results or, failing that, its log."""

from aitbc_infra.summary import outcomes, results_from_log, run_results, summary_text

RESULTS = {
    "operations": [
        {"name": "Upload /etc/aitbc/x.env", "success": ["aitbc"], "no_change": ["at1"], "error": []},
        {"name": "nginx: validate (nginx -t) and reload", "success": [], "no_change": ["at1"],
         "error": ["aitbc"]},
    ],
    "totals": {"hosts": 4, "success": 1, "error": 1, "no_change": 2},
    "failed_hosts": ["aitbc", "ns3-aitbc"],
}


def test_failed_hosts_first_with_the_operation_that_failed():
    rows = outcomes(RESULTS)
    assert [(o.host, o.failed) for o in rows] == [("aitbc", True), ("ns3-aitbc", True), ("at1", False)]
    assert rows[0].failed_operations == ["nginx: validate (nginx -t) and reload"]
    assert "no operation ran: could not connect" in rows[1].line
    assert rows[2].line.split() == ["ok", "at1", "0", "changed,", "2", "unchanged"]


def test_summary_names_every_failed_host():
    assert "2 of 3 host(s) failed: aitbc, ns3-aitbc" in summary_text(RESULTS)
    clean = {**RESULTS, "failed_hosts": [], "operations": RESULTS["operations"][:1]}
    assert "all 2 host(s) converged" in summary_text(clean)


LOG_ALL_FAILED = """--> Connecting to hosts...
    [at1]       Connected
    [aitbc]     Could not connect ([Errno None] Unable to connect to port 22 on 10.231.223.250)

--> Beginning operation run...
--> Starting operation: Deploy lock on at1: held by ops@elsewhere (pid 4242)
    [at1]       another deploy holds /run/lock/aitbc-deploy.lock: ops@elsewhere (pid 4242)
    [at1]       Error: executed 0 commands

--> pyinfra error: No hosts remaining!
"""


def test_without_json_the_log_tells_who_failed_and_why():
    results = run_results("", LOG_ALL_FAILED)
    assert results == results_from_log(LOG_ALL_FAILED)
    assert results["failed_hosts"] == ["aitbc", "at1"]
    text = summary_text(results)
    assert "FAILED   at1          failed at: another deploy holds" in text
    assert "FAILED   aitbc        failed at: Could not connect" in text


def test_json_wins_over_the_log():
    import json

    results = run_results("log noise\n" + json.dumps({"results": RESULTS}), LOG_ALL_FAILED)
    # "hosts": those the log says connected; aitbc, which could not, is named by failed_hosts.
    assert results == {**RESULTS, "hosts": ["at1"]}
    assert "FAILED   aitbc" in summary_text(results)


def test_a_host_without_operations_is_named_from_the_log():
    """A converged host gets no operation at all: the log's "Connected" still names it."""
    log = ("--> Connecting to hosts...\n    [at1]       Connected\n    [ns3-root]  Connected\n"
           "--> Starting operation: x\n    [Unit]\n")  # a --diff line of a unit file: no host
    quiet = {"operations": [], "totals": {"hosts": 2, "success": 0, "error": 0, "no_change": 0},
             "failed_hosts": []}
    import json

    text = summary_text(run_results(json.dumps({"results": quiet}), log))
    assert "all 2 host(s) converged" in text
    assert "ok       ns3-root     nothing owed" in text


def test_a_run_stopped_by_its_own_error_does_not_read_as_converged():
    log = ("    [at1]       Connected\n--> An exception occurred in: deploys/site.py:\n"
           "ImportError: cannot import name 'x'\n")
    text = summary_text(run_results("", log))
    assert "converged" not in text and "stopped before any host's result" in text


def test_each_host_lists_what_the_run_decided_it_owed():
    """deploys/site.py logs the decision of each host before its first operation: the summary
    repeats it under the host's line."""
    import json

    log = ("    [at1]       Connected\n    [aitbc]     Connected\n"
           "    [aitbc]     owed: restart aitbc-wallet-daemon: /etc/aitbc/aitbc-wallet-daemon.env changed\n"
           "    [aitbc]     owed: reload nginx: /etc/nginx/sites-available/aitbc.bubuit.net changed\n")
    ops = {"operations": [{"name": "x", "success": ["aitbc"], "no_change": [], "error": []}],
           "totals": {"hosts": 2, "success": 1, "error": 0, "no_change": 0}, "failed_hosts": []}
    results = run_results(json.dumps({"results": ops}), log)
    assert results["owed"] == {"aitbc": [
        "restart aitbc-wallet-daemon: /etc/aitbc/aitbc-wallet-daemon.env changed",
        "reload nginx: /etc/nginx/sites-available/aitbc.bubuit.net changed"]}
    lines = summary_text(results).splitlines()
    at = lines.index("    ok       aitbc        1 changed, 0 unchanged")
    assert lines[at + 1:at + 3] == [
        "             owed: restart aitbc-wallet-daemon: /etc/aitbc/aitbc-wallet-daemon.env changed",
        "             owed: reload nginx: /etc/nginx/sites-available/aitbc.bubuit.net changed"]
    assert lines[at + 3] == "    ok       at1          nothing owed"
    assert results_from_log(log)["owed"] == results["owed"]


# A dry run: pyinfra --dry --json answers with its plan, each operation with the hosts it
# would change, and `"results": null`.

DRY_LOG = ("    [at1]       Connected\n    [aitbc]     Connected\n    [ns3-root]  Connected\n"
           "    [aitbc]     owed: restart aitbc-wallet-daemon: /etc/aitbc/aitbc-wallet-daemon.env changed\n")


def _plan(*ops: tuple[str, list[str]]) -> str:
    import json

    return json.dumps({"plan": [{"op_hash": str(i), "name": name, "names": [name], "args": [],
                                 "hosts_with_change": hosts, "hosts_with_conditional_change": []}
                                for i, (name, hosts) in enumerate(ops)],
                       "results": None})


def test_a_dry_run_names_what_would_change_and_where():
    results = run_results(_plan(("aitbc: app wallet-daemon's files (3 paths)", ["aitbc"]),
                                ("wallet-daemon: activate release", ["aitbc"])), DRY_LOG)
    assert results["dry"] and results["failed_hosts"] == []
    rows = {o.host: o for o in outcomes(results)}
    assert (rows["aitbc"].changed, rows["aitbc"].changes) == (2, True)
    assert not rows["at1"].changes and not rows["ns3-root"].changes
    lines = summary_text(results).splitlines()
    assert "--> Dry run: 1 of 3 host(s) would change: aitbc" in lines
    at = lines.index("    change   aitbc        2 operation(s) would run")
    assert lines[at + 1:at + 4] == [
        "             owed: restart aitbc-wallet-daemon: /etc/aitbc/aitbc-wallet-daemon.env changed",
        "             would run: aitbc: app wallet-daemon's files (3 paths)",
        "             would run: wallet-daemon: activate release"]
    assert "    ok       at1          nothing would change" in lines


def test_a_dry_run_with_nothing_to_do_says_so():
    log = "    [at1]       Connected\n    [aitbc]     Connected\n"
    text = summary_text(run_results(_plan(), log))
    assert "--> Dry run: nothing would change on 2 host(s)" in text


def test_a_dry_run_names_the_hosts_it_could_not_reach():
    """pyinfra's dry JSON names no failed host: the log's "Could not connect" does."""
    log = DRY_LOG + "    [ns3-aitbc] Could not connect (timed out)\n"
    results = run_results(_plan(), log)
    assert results["failed_hosts"] == ["ns3-aitbc"]
    assert "FAILED   ns3-aitbc    no operation ran: could not connect" in summary_text(results)


def test_a_held_lock_fails_the_host_in_a_dry_run_too():
    """A dry run adds the lock's failing operation but never runs it: deploys/site.py's record
    of the holder is what fails the host."""
    records = {"at1": {"node": "at1", "lock_holder": "ops@ci (pid 4242, since 12:00)"},
               "aitbc": {"node": "aitbc", "decision": {"lines": []}}}
    results = run_results(_plan(("Deploy lock on at1: held by ops@ci", ["at1"])),
                          "    [at1]       Connected\n    [aitbc]     Connected\n", records)
    at1, aitbc = outcomes(results)
    assert (at1.host, at1.failed) == ("at1", True)
    assert at1.why == "the deploy lock is held by ops@ci (pid 4242, since 12:00)"
    assert (aitbc.failed, aitbc.changes) == (False, False)
    assert "1 of 2 host(s) failed: at1" in summary_text(results)


def test_records_reach_the_wrapper_only_when_it_asks(tmp_path, monkeypatch):
    from aitbc_infra.summary import RECORDS_ENV, read_records, record

    monkeypatch.delenv(RECORDS_ENV, raising=False)
    record("at1", node="at1")  # a plain pyinfra run: nowhere to write, nothing written
    path = tmp_path / "records.jsonl"
    monkeypatch.setenv(RECORDS_ENV, str(path))
    record("at1", node="at1", decision={"lines": ["reload nginx: x changed"]})
    record("@local", node="at1-local", lock_holder="ops@ci")
    assert read_records(path) == {
        "at1": {"node": "at1", "decision": {"lines": ["reload nginx: x changed"]}},
        "@local": {"node": "at1-local", "lock_holder": "ops@ci"}}
    assert read_records(tmp_path / "none.jsonl") == {}


def test_the_json_is_found_after_whatever_else_reached_stdout():
    import json

    stdout = "{ not json\nbuild: done\n" + json.dumps({"plan": [], "results": RESULTS}) + "\n"
    assert run_results(stdout, "")["failed_hosts"] == RESULTS["failed_hosts"]
