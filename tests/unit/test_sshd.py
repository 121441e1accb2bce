"""sshd from the model: which host SSH jumps through, the drop-in each host gets, the values
the model refuses, the offline check of the file, and its journal (`sshd -t`, then a reload)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from pyinfra.api import Config
from pyinfra.api import State as PyinfraState
from pyinfra.context import ctx_state

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.activation import Journal
from aitbc_infra.checks import check_sshd
from aitbc_infra.decision import converged, decide
from aitbc_infra.drift import PathState, State
from aitbc_infra.fleet import ModelError
from aitbc_infra.host_names import PENDING_DIR, PREVIOUS_SUFFIX
from aitbc_infra.host_names import SSHD_DROP_IN as DROP_IN
from aitbc_infra.loader import load_fleet
from aitbc_infra.model import Sshd
from aitbc_infra.plan import HostPlan, host_plan
from aitbc_infra.render import render_host
from aitbc_infra.sshd import (
    ALLOWED,
    SSHD,
    differences,
    effective,
    loaded_probe,
    not_loaded,
    problems,
    settings,
)
from deploys import apply
from deploys.journal import add_command, commit_command
from deploys.managed import file

EXPECTED_FIXED = {
    "PubkeyAuthentication": "yes", "PasswordAuthentication": "no",
    "KbdInteractiveAuthentication": "no", "PermitRootLogin": "prohibit-password",
    "PermitUserEnvironment": "no", "X11Forwarding": "no", "AllowAgentForwarding": "no",
    "AllowStreamLocalForwarding": "no", "PermitTunnel": "no", "GatewayPorts": "no",
    "ClientAliveInterval": "15", "ClientAliveCountMax": "4",
}


def _drop_in(fleet, node: str):
    return next(f for f in render_host(fleet, fleet.hosts[node]) if f.kind == "sshd")


# Which host SSH reaches a container through ------------------------------------------------


def test_containers_are_reached_through_the_host_whose_bridge_holds_them(fleet):
    jumps = {node: (j.node if (j := fleet.jump_host(node)) else None) for node in fleet.hosts}
    assert jumps == {"at1": None, "aitbc": "at1", "ns3-root": None, "ns3-aitbc": "ns3-root"}
    assert [h.node for h in fleet.reached_through("ns3-root")] == ["ns3-aitbc"]
    assert fleet.reached_through("aitbc") == []
    # The provisioned containers' incus host is the same host, by the model's own check.
    assert all(fleet.jump_host(h.node).node == h.container.host
               for h in fleet.hosts.values() if h.container)


def test_a_third_site_by_data_alone_gets_its_jump_host():
    fleet = load_fleet(PROJECT_ROOT / "examples/three-sites/inventory.py")
    assert fleet.jump_host("ns4-aitbc").node == "ns4-root"  # no `container` data: by its bridge
    assert settings(fleet, fleet.hosts["ns4-root"])["AllowTcpForwarding"] == "local"
    assert settings(fleet, fleet.hosts["ns4-aitbc"])["AllowTcpForwarding"] == "no"


# The drop-in --------------------------------------------------------------------------------


@pytest.mark.parametrize(("node", "forwarding"), [("at1", "local"), ("ns3-root", "local"),
                                                  ("aitbc", "no"), ("ns3-aitbc", "no")])
def test_each_host_gets_the_fixed_settings_and_its_forwarding(fleet, node, forwarding):
    f = _drop_in(fleet, node)
    assert (f.path, f.mode, f.owner, f.group, f.activation) == \
        (DROP_IN, "0644", "root", "root", SSHD)
    assert settings(fleet, fleet.hosts[node]) == {**EXPECTED_FIXED, "AllowTcpForwarding": forwarding}
    lines = [line for line in f.content.splitlines() if line and not line.startswith("#")]
    assert lines == [f"{k} {v}" for k, v in {**EXPECTED_FIXED,
                                             "AllowTcpForwarding": forwarding}.items()]
    assert problems(f.content) == []


def test_the_drop_in_sorts_before_every_other_and_says_why_it_forwards(fleet):
    # sshd keeps the first value it reads, and Debian includes sshd_config.d/*.conf sorted:
    # before the sandbox's 10-aitbc-sandbox.conf, a cloud image's 50-cloud-init.conf, ...
    name = Path(DROP_IN).name
    assert Path(DROP_IN).parent == Path("/etc/ssh/sshd_config.d") and name.endswith(".conf")
    assert sorted([name, "10-aitbc-sandbox.conf", "20-aitbc-hostkey.conf",
                   "50-cloud-init.conf"])[0] == name
    assert "SSH reaches ns3-aitbc (192.168.100.10) through this host" in \
        _drop_in(fleet, "ns3-root").content
    assert "SSH reaches no other host through this one" in _drop_in(fleet, "ns3-aitbc").content


def test_sshd_T_shows_root_login_by_either_name(fleet):
    expected = effective(fleet, fleet.hosts["ns3-root"])
    assert expected["permitrootlogin"] == {"prohibit-password", "without-password"}
    assert expected["allowtcpforwarding"] == {"local"}
    assert expected["x11forwarding"] == {"no"}


def test_an_operator_may_allow_forwarding_where_no_jump_needs_it(data):
    data.groups["aitbc_container"]["sshd"] = {"tcp_forwarding": "local"}
    fleet = data.load()
    assert settings(fleet, fleet.hosts["aitbc"])["AllowTcpForwarding"] == "local"
    assert "sshd.tcp_forwarding of this host's data" in _drop_in(fleet, "aitbc").content
    assert settings(fleet, fleet.hosts["ns3-aitbc"])["AllowTcpForwarding"] == "no"


# Hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "all", "remote", "no", "LOCAL", "local ",
                                   "local\nPermitRootLogin yes", "local\rX11Forwarding yes",
                                   "local # comment", "", None])
def test_a_forwarding_value_outside_the_choices_is_refused(value):
    with pytest.raises(ValidationError, match="tcp_forwarding"):
        Sshd(tcp_forwarding=value)


def test_no_other_keyword_can_be_set_from_data(data):
    data.groups["ns3_container"]["sshd"] = {"tcp_forwarding": "jumps", "X11Forwarding": "yes"}
    with pytest.raises(ModelError) as refused:
        data.load()
    assert any("ns3-aitbc" in p.where and p.field == "sshd.X11Forwarding" for p in refused.value.problems)


def test_an_injected_line_is_refused_naming_host_and_field(data):
    data.groups["ns3_host"]["sshd"] = {"tcp_forwarding": "local\nPermitRootLogin yes"}
    with pytest.raises(ModelError) as refused:
        data.load()
    named = [p for p in refused.value.problems if p.field == "sshd.tcp_forwarding"]
    assert named and "ns3-root" in named[0].where
    assert "'local\\nPermitRootLogin yes'" in named[0].message


# The offline check of the file -------------------------------------------------------------


def _ours(fleet, node="ns3-root") -> str:
    return _drop_in(fleet, node).content


@pytest.mark.parametrize(("edit", "finding"), [
    (lambda t: t + "Include /tmp/*.conf\n", "'Include' is not a keyword this file sets"),
    (lambda t: t + "Match User oib\n", "'Match' is not a keyword this file sets"),
    (lambda t: t.replace("X11Forwarding no", "X11Forwarding yes"), "X11Forwarding takes no here"),
    (lambda t: t.replace("AllowTcpForwarding local", "AllowTcpForwarding yes"),
     "AllowTcpForwarding takes local or no here"),
    (lambda t: t + "x11forwarding yes\n", "X11Forwarding takes no here"),
    (lambda t: t + "PermitTunnel no\n", "PermitTunnel set twice (sshd keeps the first)"),
    (lambda t: t.replace("GatewayPorts no\n", ""), "GatewayPorts is not set"),
    (lambda t: t.replace("PermitTunnel no", "PermitTunnel no yes"), "not one keyword and one value"),
    (lambda t: t.replace("PermitTunnel no", "PermitTunnel no\u2028X11Forwarding yes"),
     "not one keyword and one value"),
])
def test_the_offline_check_refuses_anything_but_our_settings(fleet, edit, finding):
    found = problems(edit(_ours(fleet)))
    assert any(finding in f for f in found), found


def test_the_offline_check_reads_as_sshd_does(fleet):
    # Keywords in any case, tabs, a CR before the newline, comments and blank lines.
    text = _ours(fleet).replace("PermitTunnel no", "permittunnel\tno\r") + "\n# the end\n\n"
    assert problems(text) == []
    assert set(ALLOWED) == {*EXPECTED_FIXED, "AllowTcpForwarding"}


def test_check_reports_the_drop_in_per_host(fleet):
    host = fleet.hosts["at1"]
    good = _drop_in(fleet, "at1")
    assert [(r.check, r.ok) for r in check_sshd(host, [good])] == [(f"sshd drop-in {DROP_IN}", True)]
    bad = type(good)(**{**good.__dict__, "content": good.content + "PermitRootLogin yes\n"})
    result, = check_sshd(host, [bad])
    assert not result.ok and "PermitRootLogin set twice" in result.detail


# The activation ----------------------------------------------------------------------------


def test_the_drop_in_is_a_journal_validated_by_sshd_t_and_loaded_by_a_reload():
    assert isinstance(SSHD, Journal)
    assert (SSHD.name, SSHD.validate, SSHD.activate) == \
        ("sshd", ("sshd", "-t"), ("systemctl", "reload", "ssh"))
    assert SSHD.effect == "ssh reload"  # as `diff` reports it
    command = commit_command(SSHD)
    assert "'sshd -t'" in command and "'systemctl reload ssh'" in command


def _state(paths: dict[str, PathState]) -> State:
    return State(paths=paths, units={}, users={}, packages=set(), firewall={})


def test_an_unchanged_drop_in_costs_no_operation_and_no_reload(fleet):
    spec = fleet.hosts["ns3-root"]
    plan = host_plan(fleet, spec)
    releases = {app.name: "r1" for app in spec.apps}
    state = converged(spec, plan, releases)  # the drop-in as planned, and all the rest
    decision = decide(spec, plan, state, releases)
    assert "sshd" not in decision.journals
    assert apply.journal(plan, state, SSHD, decision) == []  # no write, no commit


def test_a_changed_drop_in_is_journaled_before_it_replaces_the_file(fleet):
    f = _drop_in(fleet, "ns3-root")
    plan = HostPlan("ns3-root", [f])
    state = _state({DROP_IN: PathState("f", "0644", "root", "root", "0" * 64)})
    run = PyinfraState()
    run.config = Config()
    with ctx_state.use(run):
        commands = [c for c in file(plan, state, f) if isinstance(c, str)]
    # The copy of the running file is taken before the new one is renamed over it.
    assert commands[-2:] == [add_command("sshd", DROP_IN), f"mv -f -- {DROP_IN}.aitbc-new {DROP_IN}"]
    assert f"{PENDING_DIR}/sshd" in commands[-2]


_FAKE_SSHD = """#!/bin/sh
# sshd -t as far as this test needs: reject the drop-in when it lets passwords in
[ "$1" = -t ] || exit 64
if grep -q '^PasswordAuthentication yes' "$DROP_IN"; then
  echo "$DROP_IN line 9: Bad configuration option" >&2; exit 255
fi
"""
_FAKE_SYSTEMCTL = f"""#!{sys.executable}
import os, sys
open(os.environ["CALLS"], "a").write(" ".join(sys.argv[1:]) + "\\n")
"""


@pytest.fixture
def host_tools(tmp_path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sshd", _FAKE_SSHD), ("systemctl", _FAKE_SYSTEMCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {"bin": bin_dir, "calls": tmp_path / "calls", "drop_in": tmp_path / "00-aitbc.conf",
            "pending": tmp_path / "pending"}


def _deploy_drop_in(tools: dict, content: str) -> subprocess.CompletedProcess:
    """A journaled write of the drop-in, then its commit, as the deploy runs them."""
    env = {"PATH": f"{tools['bin']}:/usr/bin:/bin", "CALLS": str(tools["calls"]),
           "DROP_IN": str(tools["drop_in"])}
    write = add_command(SSHD.name, str(tools["drop_in"]), str(tools["pending"]))
    assert subprocess.run(["sh", "-c", write], env=env).returncode == 0
    tools["drop_in"].write_text(content)
    return subprocess.run(["sh", "-c", commit_command(SSHD, str(tools["pending"]))], env=env,
                          capture_output=True, text=True)


def test_a_drop_in_sshd_rejects_is_put_back_and_never_reloaded(fleet, host_tools):
    good = _ours(fleet)
    host_tools["drop_in"].write_text(good)
    result = _deploy_drop_in(host_tools, good.replace("PasswordAuthentication no",
                                                      "PasswordAuthentication yes"))
    assert result.returncode == 1
    assert "Bad configuration option" in result.stderr and "REJECTED by 'sshd -t'" in result.stderr
    assert host_tools["drop_in"].read_text() == good
    assert not host_tools["calls"].exists()  # no reload: the running sshd never saw it
    assert not list(host_tools["drop_in"].parent.glob(f"*{PREVIOUS_SUFFIX}"))


def test_an_accepted_drop_in_stays_and_sshd_reloads_once(fleet, host_tools):
    result = _deploy_drop_in(host_tools, _ours(fleet))
    assert result.returncode == 0, result.stderr
    assert host_tools["drop_in"].read_text() == _ours(fleet)
    assert host_tools["calls"].read_text() == "reload ssh\n"
    assert list(host_tools["pending"].iterdir()) == []


# Whether the running sshd runs the files on disk (the verify check) --------------------------

_PROBE_SSHD = """#!/bin/sh
[ "$1" = -T ] && echo "pidfile $PIDFILE" && echo "x11forwarding no"
"""
_PROBE_SYSTEMCTL = """#!/bin/sh
[ "$*" = "show -p MainPID --value ssh" ] && echo "$MAINPID"
"""


@pytest.fixture
def sshd_host(tmp_path) -> dict:
    """/etc/ssh, a pid file and stand-ins for sshd and systemctl, under tmp_path."""
    bin_dir, etc = tmp_path / "bin", tmp_path / "etc-ssh"
    (etc / "sshd_config.d").mkdir(parents=True)
    bin_dir.mkdir()
    for name, text in (("sshd", _PROBE_SSHD), ("systemctl", _PROBE_SYSTEMCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    files = [etc / "sshd_config", etc / "sshd_config.d" / "00-aitbc.conf",
             etc / "sshd_config.d" / "README"]
    for f in files:
        f.write_text("x\n")
        os.utime(f, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    pidfile = tmp_path / "sshd.pid"
    pidfile.write_text("4242\n")
    os.utime(pidfile, ns=(1_000_000_000_500_000_000, 1_000_000_000_500_000_000))  # 0.5 s later
    return {"etc": etc, "pidfile": pidfile, "files": files,
            "env": {"PATH": f"{bin_dir}:/usr/bin:/bin", "PIDFILE": str(pidfile), "MAINPID": "4242"}}


def _loaded(host: dict) -> str | None:
    out = subprocess.run(["sh", "-c", loaded_probe(str(host["etc"]))], env=host["env"],
                         capture_output=True, text=True)
    return not_loaded(out.stdout)


def test_a_daemon_that_reread_after_every_change_runs_them(sshd_host):
    assert _loaded(sshd_host) is None


def test_a_file_changed_after_the_last_reload_is_named(sshd_host):
    drop_in = sshd_host["files"][1]
    os.utime(drop_in, ns=(1_000_000_000_600_000_000, 1_000_000_000_600_000_000))  # 0.1 s after
    why = _loaded(sshd_host)
    assert why is not None and f"before {drop_in} changed: it runs an older one" in why
    # A file sshd_config does not include (not *.conf) changes nothing.
    os.utime(drop_in, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    os.utime(sshd_host["files"][2], ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    assert _loaded(sshd_host) is None


def test_a_pid_file_of_another_or_no_daemon_proves_nothing(sshd_host):
    assert "not the running sshd's" in _loaded({**sshd_host, "env": {**sshd_host["env"],
                                                                     "MAINPID": "0"}})
    sshd_host["pidfile"].unlink()
    assert "no sshd listener runs" in _loaded(sshd_host)


def test_sshd_T_output_is_read_against_the_declared_settings(fleet):
    host = fleet.hosts["ns3-root"]
    # As OpenSSH 9.2 prints it: lower-case keywords, prohibit-password by its older name.
    shown = "".join(f"{k.lower()} {v}\n" for k, v in settings(fleet, host).items())
    shown = shown.replace("prohibit-password", "without-password") + "port 22\nhostkey /x\n"
    assert differences(fleet, host, shown) == {}
    shown = shown.replace("x11forwarding no", "x11forwarding yes").replace(
        "allowtcpforwarding local\n", "")
    assert differences(fleet, host, shown) == {"x11forwarding": "yes", "allowtcpforwarding": None}
