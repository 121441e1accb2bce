"""What a run sets off, decided once from plan and state (aitbc_infra/decision.py): for each kind
of change, the units restarted or started, the configurations reloaded, and why. The host
script that carries an app's part out decides nothing itself: it matches no path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from unit_helpers import absent, content, link, mode, present, unit

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.decision import NOTHING, RESTART, SOCKET, START, converged, decide
from aitbc_infra.drift import State
from aitbc_infra.host_names import PENDING_DIR, journal_copy
from aitbc_infra.plan import CA_DIR, TRUSTED_CAS, Upload, host_plan
from aitbc_infra.render import NGINX
from deploys import apps
from deploys.shell import SCRIPTS

LOCAL = str(PROJECT_ROOT / "pyproject.toml")  # any file of this machine, for an upload
# Uploads the production plans lack: the sandbox's trusted CA, a provided certificate.
EXTRA_UPLOADS = {
    "ca": Upload(f"{CA_DIR}/aitbc-sandbox-acme-root.crt", LOCAL, "0644", TRUSTED_CAS),
    "provided": Upload("/etc/ssl/aitbc/bubuit.net/privkey.pem", LOCAL, "0600", NGINX, secret=True),
}

def rules_drifted(state: State) -> None:
    state.firewall["live"] = "f00d"


def revert_armed(state: State) -> None:
    """An earlier run applied rules and was killed before it confirmed them (firehol-state)."""
    state.firewall["armed"] = "2026-05-04T10:11:12Z"


WALLET_ENV = "/etc/aitbc/aitbc-wallet-daemon.env"
WALLET_UNIT = "/etc/systemd/system/aitbc-wallet-daemon.service"
WALLET_SOCKET = "/etc/systemd/system/aitbc-wallet-daemon.socket"
RPC_ENV = "/etc/aitbc/aitbc-blockchain-rpc-1.env"
SITE = "/etc/nginx/sites-available/aitbc.bubuit.net"
FIREHOL_CONF = "/etc/firehol/firehol.conf"
DROP_IN = "/etc/ssh/sshd_config.d/00-aitbc.conf"
CA = EXTRA_UPLOADS["ca"].path
PRIVKEY = EXTRA_UPLOADS["provided"].path
CERTIFICATE = "/etc/letsencrypt/live/bubuit.net/fullchain.pem"
WALLET_PENDING = f"{PENDING_DIR}/app-wallet-daemon"

# (what changes, host, the uploads its plan gets, the edits of its converged state, the lines)
CASES = [
    ("nothing", "aitbc", (), [], []),
    ("unit file", "aitbc", (), [content(WALLET_UNIT)],
     [f"restart aitbc-wallet-daemon: {WALLET_UNIT} changed"]),
    ("socket file", "aitbc", (), [content(WALLET_SOCKET)],
     [f"restart aitbc-wallet-daemon.socket and aitbc-wallet-daemon: {WALLET_SOCKET} changed"]),
    ("env file", "aitbc", (), [content(RPC_ENV)],
     [f"restart aitbc-blockchain-rpc-1: {RPC_ENV} changed"]),
    ("env file's mode alone", "aitbc", (), [mode(RPC_ENV, "0644")], []),
    ("candidate template", "aitbc", (),
     [content("/etc/systemd/system/aitbc-wallet-daemon-candidate@.service")],
     ["load the units of wallet-daemon: "
      "/etc/systemd/system/aitbc-wallet-daemon-candidate@.service changed"]),
    ("release link", "aitbc", (), [link("/opt/blockchain-node/.venv", "releases/r0")],
     [f"restart {u}: release releases/r0 -> releases/r1" for u in
      ("aitbc-blockchain-schema-1", "aitbc-blockchain-node-1", "aitbc-blockchain-rpc-1")]),
    ("first release", "aitbc", (), [absent("/opt/wallet-daemon/.venv")],
     ["restart aitbc-wallet-daemon: first release releases/r1"]),
    ("nginx site", "aitbc", (), [content(SITE)], [f"reload nginx: {SITE} changed"]),
    ("nginx site link", "at1", (), [absent("/etc/nginx/sites-enabled/aitbc-proxy.conf")],
     ["reload nginx: /etc/nginx/sites-enabled/aitbc-proxy.conf added"]),
    ("Debian's default site", "at1", (), [link("/etc/nginx/sites-enabled/default", "x")],
     ["reload nginx: /etc/nginx/sites-enabled/default removed"]),
    ("firehol config", "ns3-root", (), [content(FIREHOL_CONF)],
     [f"reload firehol: {FIREHOL_CONF} changed"]),
    ("firehol live rules", "ns3-root", (), [rules_drifted],
     ["reload firehol: live rules differ from those firehol applied"]),
    ("firehol revert armed", "ns3-root", (), [revert_armed],
     ["reload firehol: a revert of the firewall is armed until 2026-05-04T10:11:12Z (an earlier "
      "run's rules were never confirmed)"]),
    ("sshd drop-in", "ns3-aitbc", (), [content(DROP_IN)], [f"reload sshd: {DROP_IN} changed"]),
    ("trusted CA", "at1", ("ca",), [content(CA)], [f"reload ca-certificates: {CA} changed"]),
    ("provided certificate", "at1", ("provided",), [content(PRIVKEY)],
     [f"reload nginx: {PRIVKEY} changed"]),
    ("ACME certificate not issued", "at1", (), [absent(CERTIFICATE)],
     [f"issue certificate bubuit.net for aitbc.bubuit.net: {CERTIFICATE} missing",
      "reload nginx: aitbc.bubuit.net enabled again once its certificate is issued"]),
    ("web tree", "aitbc", (), [present("/var/www/aitbc.bubuit.net/index.html")], []),
    ("file read at a start", "aitbc", (), [content("/usr/local/lib/aitbc-infra/inherit_socket.py"),
                                           content("/etc/logrotate.d/aitbc-nginx")], []),
    ("restart mark", "aitbc", (), [present(f"{PENDING_DIR}/restart-coordinator-api")],
     ["restart coordinator-api: restart mark left by an unfinished run"]),
    ("pending app journal", "aitbc", (),
     [present(WALLET_PENDING), present(journal_copy("app-wallet-daemon", WALLET_ENV))],
     ["load the units of wallet-daemon: journal app-wallet-daemon left pending by an unfinished run",
      f"restart aitbc-wallet-daemon: {WALLET_ENV} written by an unfinished run"]),
    ("pending app journal, its file not replaced yet", "aitbc", (),
     [present(WALLET_PENDING), present(journal_copy("app-wallet-daemon", WALLET_ENV)),
      content(WALLET_ENV)],
     ["load the units of wallet-daemon: journal app-wallet-daemon left pending by an unfinished run",
      f"restart aitbc-wallet-daemon: {WALLET_ENV} changed"]),
    ("pending nginx journal", "aitbc", (), [present(f"{PENDING_DIR}/nginx")],
     ["reload nginx: journal nginx left pending by an unfinished run"]),
    ("unit stopped", "aitbc", (), [unit("aitbc-exchange-api", "failed")],
     ["start aitbc-exchange-api: aitbc-exchange-api not active (failed)"]),
    ("unit disabled", "aitbc", (), [unit("aitbc-blockchain-node-2", enabled="disabled")],
     ["start aitbc-blockchain-node-2: aitbc-blockchain-node-2 not enabled (disabled)"]),
    ("socket stopped", "aitbc", (), [unit("aitbc-exchange-api.socket", "inactive")],
     ["restart aitbc-exchange-api.socket and aitbc-exchange-api: "
      "aitbc-exchange-api.socket not active (inactive)"]),
    ("nginx stopped", "ns3-root", (), [unit("nginx", "failed")],
     ["reload nginx: nginx not active (failed)"]),
    ("firehol disabled", "ns3-root", (), [unit("firehol", enabled="disabled")],
     ["reload firehol: firehol not enabled (disabled)"]),
]


def _decision(fleet, node: str, uploads=(), edits=()):
    spec = fleet.hosts[node]
    plan = host_plan(fleet, spec)
    plan = replace(plan, uploads=[*plan.uploads, *(EXTRA_UPLOADS[u] for u in uploads)])
    releases = {app.name: "r1" for app in spec.apps}
    state = converged(spec, plan, releases)
    for edit in edits:
        edit(state)
    return decide(spec, plan, state, releases)


@pytest.mark.parametrize(("node", "uploads", "edits", "lines"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_change_sets_off_what_it_must_and_says_why(fleet, node, uploads, edits, lines):
    assert _decision(fleet, node, uploads, edits).lines() == lines


def test_what_each_unit_of_an_app_is_told(fleet):
    """activate-release.sh gets every unit of the app with its action, and whether its unit
    file is new (a failed gate has nothing to restore for it)."""
    decision = _decision(fleet, "aitbc", edits=[
        content(WALLET_SOCKET), unit("aitbc-blockchain-node-1", "inactive"),
        content("/etc/aitbc/aitbc-blockchain-rpc-1.env")])
    wallet, = decision.apps["wallet-daemon"].units
    assert (wallet.action, wallet.listens, wallet.new) == (SOCKET, True, False)
    node = {u.unit: u.action for u in decision.apps["blockchain-node"].units}
    assert node == {"aitbc-blockchain-schema-1": NOTHING, "aitbc-blockchain-node-1": START,
                    "aitbc-blockchain-rpc-1": RESTART}
    assert set(decision.apps) == {"wallet-daemon", "blockchain-node"}  # the others owe nothing
    assert decision.restarts == {"aitbc-wallet-daemon", "aitbc-blockchain-node-1",
                                 "aitbc-blockchain-rpc-1"}
    assert decision.reloads == set()


def test_a_new_unit_is_new(fleet):
    """A unit whose file the host lacks, or whose file only an unfinished first deploy wrote (a
    journal pending, no copy kept, never enabled), has nothing to go back to."""
    gone = [absent(p) for p in (WALLET_UNIT, WALLET_SOCKET, WALLET_ENV)]
    wallet, = _decision(fleet, "aitbc", edits=[
        *gone, unit("aitbc-wallet-daemon", "", ""),
        unit("aitbc-wallet-daemon.socket", "", "")]).apps["wallet-daemon"].units
    assert (wallet.action, wallet.new) == (SOCKET, True)
    assert set(wallet.reasons) == {
        f"{WALLET_SOCKET} added", f"{WALLET_UNIT} added", f"{WALLET_ENV} added",
        "aitbc-wallet-daemon.socket not active (unknown)", "aitbc-wallet-daemon not active (unknown)",
        "aitbc-wallet-daemon not enabled (unknown)", "aitbc-wallet-daemon.socket not enabled (unknown)"}
    killed = [present(WALLET_PENDING), unit("aitbc-wallet-daemon", "inactive", "disabled")]
    wallet, = _decision(fleet, "aitbc", edits=killed).apps["wallet-daemon"].units
    assert (wallet.action, wallet.new) == (START, True)
    copy = present(journal_copy("app-wallet-daemon", WALLET_UNIT))
    wallet, = _decision(fleet, "aitbc", edits=[*killed, copy]).apps["wallet-daemon"].units
    assert (wallet.action, wallet.new) == (RESTART, False)


def test_the_app_activation_is_told_each_units_action(fleet, monkeypatch):
    """deploys/apps.py hands activate-release.sh the decision: UNIT ACTION LISTENS NEW LIVE
    CANDIDATE PROBE for every unit of the app."""
    monkeypatch.setattr(apps, "fleet", lambda: fleet)
    spec = fleet.hosts["aitbc"]
    app = next(a for a in spec.apps if a.name == "blockchain-node")
    owed = _decision(fleet, "aitbc", edits=[content(RPC_ENV)]).apps["blockchain-node"]
    assert apps.unit_arguments(spec, app, owed) == [
        "aitbc-blockchain-schema-1", "none", "no", "no", "-", "-", "-",
        "aitbc-blockchain-node-1", "none", "no", "no", "-", "-", "-",
        "aitbc-blockchain-rpc-1", "restart", "yes", "no", "http://127.0.0.1:8081/rpc/head", "-", "-"]


def test_the_decision_needs_no_pyinfra():
    code = ("import sys, aitbc_infra.decision, aitbc_infra.diff; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyinfra'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]"


# The host script acts on the decision alone -------------------------------------------------

ACTIVATE = SCRIPTS / "activate-release.sh"
# Ways a shell script tells a unit's files by how their paths end.
SUFFIX_MATCHES = [
    r"\.(service|socket|env)\\?\$",  # a regular expression anchored after the suffix
    r"\.(service|socket|env)\)",  # a case pattern
    r"%%?\*?\.(service|socket|env)",  # a suffix removed from a path
    r"\.\$suffix|\$\w*suffix\b.*(end|length)",  # a suffix given as a variable
    r"substr\(.*length\(",  # awk comparing a path's end
    r"journaled_unit",
]


@pytest.mark.parametrize("pattern", SUFFIX_MATCHES)
def test_activate_release_matches_no_path_suffix(pattern):
    found = [line for line in ACTIVATE.read_text().splitlines()
             if not line.lstrip().startswith("#") and re.search(pattern, line)]
    assert found == []


def test_the_suffix_patterns_catch_what_the_script_once_did():
    before = ['journal_paths "$journal" | awk -v end="/$name.$suffix" \\',
              "      'substr($0, length($0) - length(end) + 1) == end { found = 1 } END { exit !found }'",
              '''  unit_file=$(printf '%s\\n' "$journaled" | grep -m 1 -e "/$unit\\.service\\$" || true)''',
              '  case $path in */$unit.service) ;; esac']
    for line in before:
        assert any(re.search(p, line) for p in SUFFIX_MATCHES), line


def test_activate_release_passes_shellcheck():
    """As CI checks every host script (.ci/shellcheck-scripts.sh): lib.sh first, then it."""
    shellcheck = os.environ.get("SHELLCHECK") or Path(sys.executable).with_name("shellcheck")
    text = ACTIVATE.read_text()
    disable = next(line for line in text.splitlines() if line.startswith("# shellcheck disable="))
    source = f"{disable}\n{(SCRIPTS / 'lib.sh').read_text()}{text}"
    result = subprocess.run([str(shellcheck), "-s", "sh", "-"], input=source, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout
