"""`aitbc-infra deploy --serial` without a sandbox: the order of the sites, the `--limit` that
keeps each run to its site's hosts (as pyinfra itself reads it), the stop rule (the first site
that fails ends the run, the later ones are never run), the summary and the --json document;
then one real run of pyinfra against an inventory whose hosts are ports on 127.0.0.1 that this
test holds: the first site's refuse, the second site's would accept and must never be asked.

The round against real hosts (a failing gate on the first site leaves the second untouched) is
tests/sandbox/test_serial.py."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api import Config, State
from pyinfra.context import ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.cli import _apply_inventory_limit
from pyinfra_cli.inventory import make_inventory_from_files

from aitbc_infra import PROJECT_ROOT, deploy, loader
from aitbc_infra.cli import build_parser, main
from aitbc_infra.deploy import PyinfraRun, limit_arguments, serial_sites
from aitbc_infra.deploy_report import DRIFT, FAILED, OK
from aitbc_infra.errors import UserError
from aitbc_infra.json_schema import load, problems
from aitbc_infra.loader import load_fleet, load_pyinfra_inventory
from aitbc_infra.secrets import env_name, needed
from aitbc_infra.summary import run_results

INVENTORY = PROJECT_ROOT / "inventory.py"
THREE_SITES = PROJECT_ROOT / "examples" / "three-sites" / "inventory.py"


# The order and the limits ------------------------------------------------------------------


def test_sites_come_in_the_inventorys_order_each_with_its_hosts():
    sites = serial_sites(load_fleet(INVENTORY))
    assert [(s.site, s.hosts) for s in sites] == [
        ("at1", {"at1": "at1", "aitbc": "aitbc"}),
        ("ns3-root", {"ns3-root": "ns3-root", "ns3-aitbc": "ns3-aitbc"})]
    assert not any(s.attempted for s in sites)
    three = serial_sites(load_fleet(THREE_SITES))
    assert [s.site for s in three] == ["at1", "ns3-root", "ns4-root"]
    assert three[2].hosts == {"ns4-root": "ns4-root", "ns4-aitbc": "ns4-aitbc"}


@pytest.mark.parametrize("inventory", [INVENTORY, THREE_SITES], ids=["two sites", "three sites"])
def test_each_sites_limit_selects_exactly_its_hosts_as_pyinfra_reads_it(inventory):
    fleet = load_fleet(inventory)
    pyinfra_inventory = load_pyinfra_inventory(inventory)
    for site in serial_sites(fleet):
        args = limit_arguments(fleet, list(site.hosts))
        limits = args[1::2]
        assert args[0::2] == ["--limit"] * len(site.hosts)
        selected = _apply_inventory_limit(pyinfra_inventory, limits)
        assert sorted(h.name for h in selected) == sorted(site.hosts), site.site


def _plans(monkeypatch, limits: list[str] | None) -> tuple[set[str], dict]:
    """pyinfra's own load of the inventory, limited as its CLI limits it, then what
    deploys/site.py asks of the context for each host in the limit: (the fleet's nodes, each
    limited host's plan). A fresh context each time: it keeps its model for its process."""
    monkeypatch.setattr(loader, "_validated", {})
    monkeypatch.delitem(sys.modules, "deploys.context", raising=False)
    with ctx_state.use(State()):
        inventory = make_inventory_from_files(str(INVENTORY), cwd=str(PROJECT_ROOT))
    state = State(inventory, Config(),
                  initial_limit=_apply_inventory_limit(inventory, limits) if limits else None)
    context = importlib.import_module("deploys.context")
    plans = {}
    with ctx_state.use(state), ctx_inventory.use(inventory):
        for host in inventory:
            if state.is_host_in_limit(host):
                with ctx_host.use(host):
                    plans[host.name] = context.plan(context.this_host())
    return set(context.fleet().hosts), plans


def test_a_sites_run_renders_exactly_what_a_run_of_every_host_renders(monkeypatch, fleet):
    """pyinfra's --limit keeps the whole inventory loaded: the model of a site's run is the
    fleet's, so what reads another site (a peer's URL, a forward's source) is the same."""
    for site, name in needed(fleet):
        monkeypatch.setenv(env_name(name, site), f"{site}-{name.lower()}-0123456789")
    nodes, every = _plans(monkeypatch, None)
    assert set(every) == nodes == set(fleet.hosts)
    for site in serial_sites(fleet):
        nodes, limited = _plans(monkeypatch, limit_arguments(fleet, list(site.hosts))[1::2])
        assert nodes == set(fleet.hosts)  # the whole fleet, not the site's hosts
        assert set(limited) == set(site.hosts)
        assert all(limited[h] == every[h] for h in limited), site.site


def test_a_host_named_as_a_group_is_refused_before_anything_runs(project_copy, monkeypatch,
                                                                 capsys):
    inventory = project_copy / "inventory.py"
    text = inventory.read_text()
    old = '("aitbc", {"ssh_hostname"'
    assert old in text
    # pyinfra's --limit takes a group's name first: `--limit ns3_host` would reach ns3-root.
    inventory.write_text(text.replace(old, '("ns3_host", {"node": "aitbc", "ssh_hostname"'))
    fleet = load_fleet(inventory)
    with pytest.raises(UserError, match=r"host ns3_host: its name is also a group's"):
        limit_arguments(fleet, ["at1", "ns3_host"])
    monkeypatch.setattr(deploy, "load_with_sources", load_fleet)
    monkeypatch.setattr(deploy, "execute", _never)
    assert main(["deploy", "--serial", "--inventory", str(inventory)]) == 2
    assert "host ns3_host: its name is also a group's" in capsys.readouterr().err


# The stop rule -------------------------------------------------------------------------------


def _never(*args, **kwargs):
    raise AssertionError("a pyinfra run was started")


def _log(hosts) -> str:
    return "".join(f"    [{h}]  Connected\n" for h in hosts)


def _converged(hosts) -> PyinfraRun:
    results = {"operations": [{"name": "wallet-daemon: activate release", "success": list(hosts),
                               "no_change": [], "error": []}],
               "totals": {"hosts": len(hosts), "success": len(hosts), "error": 0, "no_change": 0},
               "failed_hosts": []}
    records = {h: {"node": h, "decision": None} for h in hosts}
    return PyinfraRun(0, run_results(json.dumps({"plan": [], "results": results}), _log(hosts),
                                     records))


def _gate_failed(hosts, failing) -> PyinfraRun:
    results = {"operations": [{"name": "coordinator-api: activate release",
                               "success": [h for h in hosts if h != failing], "no_change": [],
                               "error": [failing]}],
               "totals": {"hosts": len(hosts), "success": len(hosts) - 1, "error": 1,
                          "no_change": 0},
               "failed_hosts": [failing]}
    return PyinfraRun(1, run_results(json.dumps({"plan": [], "results": results}), _log(hosts)))


def _unreachable(hosts) -> PyinfraRun:
    # Every host of the run failed to connect: pyinfra stops without JSON.
    log = "".join(f"    [{h}]  Could not connect (Connection refused)\n" for h in hosts)
    return PyinfraRun(1, run_results("", log + "--> No hosts remaining!\n"))


def _dry(hosts, changing=()) -> PyinfraRun:
    plan = [{"op_hash": "1", "name": "Sync /var/www", "names": ["Sync /var/www"], "args": [],
             "hosts_with_change": list(changing), "hosts_with_conditional_change": []}]
    return PyinfraRun(0, run_results(json.dumps({"plan": plan, "results": None}), _log(hosts)))


def _stopped(hosts) -> PyinfraRun:
    return PyinfraRun(1, run_results("", "--> pyinfra error: something broke\n"))


class Runs:
    """A stand-in for pyinfra's run (the one thing here that would reach hosts): answers each
    site's run by the hosts its --limit names, and records every run started."""

    def __init__(self, answers):
        self.answers = answers  # {first host of the site: (hosts) -> PyinfraRun}
        self.limits: list[list[str]] = []
        self.extra: list[list[str]] = []

    def __call__(self, inventory, *extra, message=None, keep_rollbacks=False):
        limits = [extra[i + 1] for i, arg in enumerate(extra) if arg == "--limit"]
        self.limits.append(limits)
        self.extra.append([arg for arg in extra if arg != "--limit" and arg not in limits])
        return self.answers[limits[0]](limits)


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"inventory": INVENTORY, "dry": False, "diff": False,
                                 "json": True, "message": None, "serial": True,
                                 "keep_rollbacks": False, **kw})


def _serial(monkeypatch, capsys, answers, **kw) -> tuple[int, dict, str, Runs]:
    runs = Runs(answers)
    monkeypatch.setattr(deploy, "execute", runs)
    status = deploy.cmd_deploy(_args(**kw))
    out, err = capsys.readouterr()
    doc = json.loads(out)  # the whole of stdout is the document
    assert problems(doc, load("deploy")) == []
    assert doc["exit_code"] == status
    return status, doc, err, runs


AT1, NS3 = ["at1", "aitbc"], ["ns3-root", "ns3-aitbc"]


def test_a_failed_gate_on_the_first_site_ends_the_run_before_the_second(monkeypatch, capsys):
    status, doc, err, runs = _serial(monkeypatch, capsys, {
        "at1": lambda hosts: _gate_failed(hosts, "aitbc"), "ns3-root": _never})
    assert runs.limits == [AT1]
    assert status == FAILED and doc["result"] == "failed"
    assert doc["sites"] == [{"site": "at1", "hosts": AT1, "result": "failed"},
                            {"site": "ns3-root", "hosts": NS3, "result": "not_attempted"}]
    assert {h: d["result"] for h, d in doc["hosts"].items()} == {
        "at1": "converged", "aitbc": "failed", "ns3-root": "not_attempted",
        "ns3-aitbc": "not_attempted"}
    assert doc["hosts"]["ns3-aitbc"]["node"] == "ns3-aitbc"
    assert doc["hosts"]["aitbc"]["failure"] == "failed at: coordinator-api: activate release"
    assert "--> Site at1 (1 of 2): at1, aitbc" in err and "--> Site ns3-root" not in err
    assert "--> Site by site: stopped at site at1, which failed; not attempted: ns3-root" in err


def test_a_later_site_runs_once_the_earlier_converged_and_its_failure_is_named(monkeypatch,
                                                                               capsys):
    status, doc, _, runs = _serial(monkeypatch, capsys, {
        "at1": _converged, "ns3-root": lambda hosts: _gate_failed(hosts, "ns3-aitbc")})
    assert runs.limits == [AT1, NS3]
    assert status == FAILED
    assert [s["result"] for s in doc["sites"]] == ["converged", "failed"]
    assert doc["error"] is None  # the host's result says why


def test_every_site_converged(monkeypatch, capsys):
    status, doc, err, runs = _serial(monkeypatch, capsys, {"at1": _converged,
                                                           "ns3-root": _converged},
                                     message="serial run")
    assert (status, doc["result"]) == (OK, "converged")
    assert [s["result"] for s in doc["sites"]] == ["converged", "converged"]
    assert runs.extra == [[], []]
    assert "--> Site by site: all 2 site(s) converged, one after the other" in err


def test_a_dry_run_goes_on_past_changes_and_exits_3(monkeypatch, capsys):
    status, doc, err, runs = _serial(monkeypatch, capsys, {
        "at1": lambda hosts: _dry(hosts, ["aitbc"]), "ns3-root": _dry}, dry=True, diff=True)
    assert runs.extra == [["--dry", "--diff"]] * 2  # each site's plan
    assert (status, doc["result"], doc["dry"]) == (DRIFT, "changes", True)
    assert [s["result"] for s in doc["sites"]] == ["changes", "no_changes"]
    assert "--> Site by site: 1 of 2 site(s) would change: at1" in err
    status, doc, _, _ = _serial(monkeypatch, capsys, {"at1": _dry, "ns3-root": _dry}, dry=True)
    assert (status, [s["result"] for s in doc["sites"]]) == (OK, ["no_changes", "no_changes"])


def test_a_dry_run_stops_at_a_site_it_cannot_reach(monkeypatch, capsys):
    status, doc, _, runs = _serial(monkeypatch, capsys, {"at1": _unreachable,
                                                         "ns3-root": _never}, dry=True)
    assert runs.limits == [AT1] and status == FAILED
    assert [s["result"] for s in doc["sites"]] == ["failed", "not_attempted"]
    assert "Could not connect" in doc["hosts"]["at1"]["failure"]


def test_a_site_whose_run_stopped_on_its_own_error_is_named(monkeypatch, capsys):
    status, doc, _, runs = _serial(monkeypatch, capsys, {"at1": _converged,
                                                         "ns3-root": _stopped})
    assert status == FAILED and len(runs.limits) == 2
    assert [s["result"] for s in doc["sites"]] == ["converged", "failed"]
    assert doc["error"] == "site ns3-root: the run stopped before any host's result: see the log"


def test_the_table_names_each_site_and_exits_as_the_document(monkeypatch, capsys):
    monkeypatch.setattr(deploy, "execute", Runs({"at1": lambda h: _gate_failed(h, "at1"),
                                                 "ns3-root": _never}))
    assert deploy.cmd_deploy(_args(json=False)) == FAILED
    out = capsys.readouterr().out
    assert "--> Summary: 1 of 2 host(s) failed: at1" in out
    lines = out[out.index("--> Site by site"):].splitlines()
    assert lines[1].split() == ["FAILED", "at1", "at1,", "aitbc"]
    assert lines[2].split() == ["not", "attempted", "ns3-root", "ns3-root,", "ns3-aitbc"]


def test_serial_is_in_the_help():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["deploy"].format_help().split())
    assert "--serial" in text and "stopping at the first site that fails" in text


# A real pyinfra run, hosts on 127.0.0.1 ------------------------------------------------------


def _inventory_on_loopback(tmp: Path, data, ports: dict[str, int]) -> Path:
    """The production inventory's hosts and data in its order, each reached at 127.0.0.1:PORT
    (no other address is written into a connection setting), with an empty ssh_config and
    known_hosts and neither an agent nor a key of this machine's user."""
    tmp.mkdir()
    (tmp / "ssh_config").write_text("")
    (tmp / "known_hosts").write_text("")
    ssh = {"ssh_hostname": "127.0.0.1", "ssh_user": "root",
           "ssh_config_file": str(tmp / "ssh_config"),
           "ssh_known_hosts_file": str(tmp / "known_hosts"),
           "ssh_strict_host_key_checking": "yes", "ssh_allow_agent": False,
           "ssh_look_for_keys": False}
    lines = ["from aitbc_infra.loader import validate_inventory"]
    order = [spec.role for spec in load_fleet(INVENTORY).hosts.values()]
    for group, hosts in sorted(data.inventory.items(), key=lambda item: order.index(item[0])):
        entries = [(name, {**{k: v for k, v in host.items() if not k.startswith("ssh_")}, **ssh,
                           "ssh_port": ports[name]}) for name, host in hosts]
        lines.append(f"{group} = {entries!r}")
    lines.append("validate_inventory(__file__)")
    path = tmp / "inventory.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_real_run_reaches_no_host_of_a_site_after_one_that_failed(tmp_path, data, fleet):
    # A port of its own for each host (the model refuses two hosts reached alike): the first
    # site's bound but never listening, so a connection is refused; the second site's listening,
    # so a connection would be seen there.
    sockets = {name: socket.socket() for name in (*AT1, *NS3)}
    try:
        for name, sock in sockets.items():
            sock.bind(("127.0.0.1", 0))
            if name in NS3:
                sock.listen(8)
        ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        inventory = _inventory_on_loopback(tmp_path / "run", data, ports)
        loaded = load_pyinfra_inventory(inventory)
        assert {h.data.ssh_hostname for h in loaded} == {"127.0.0.1"}  # nothing real reached
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"),
               **{env_name(name, site): f"{site}-{name.lower()}-0123456789"
                  for site, name in needed(fleet)}}
        done = subprocess.run([sys.executable, "-m", "aitbc_infra", "deploy", "--serial",
                               "--json", "--inventory", str(inventory)], cwd=PROJECT_ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == FAILED, done.stderr[-3000:]
        doc = json.loads(done.stdout)
        assert problems(doc, load("deploy")) == []
        assert doc["sites"] == [{"site": "at1", "hosts": AT1, "result": "failed"},
                                {"site": "ns3-root", "hosts": NS3, "result": "not_attempted"}]
        assert {h for h, d in doc["hosts"].items() if d["result"] == "failed"} == set(AT1)
        assert "[at1]" in done.stderr and "[aitbc]" in done.stderr
        assert "[ns3-root]" not in done.stderr and "[ns3-aitbc]" not in done.stderr
        # Not one connection to the second site's ports.
        waiting = [sockets[name] for name in NS3]
        assert select.select(waiting, [], [], 0)[0] == []
    finally:
        for sock in sockets.values():
            sock.close()
