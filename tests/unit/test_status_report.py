"""`aitbc-infra status` without a host: what it asks each host (from the model), how it reads
the host script's answer, the problems it names, its exit status, its --json document and its
refusal of bad input before any connection. The round against real hosts is
tests/sandbox/test_status.py."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aitbc_infra import PROJECT_ROOT, status_command
from aitbc_infra.cli import main
from aitbc_infra.history import Run, encode, entry, finished
from aitbc_infra.host_names import (
    DEPLOY_HISTORY,
    FIREHOL_APPLIED_DIGEST,
    FIREHOL_CONF,
    FIREHOL_SWITCH_DIR,
    RELEASE_MARKER,
)
from aitbc_infra.json_schema import load
from aitbc_infra.json_schema import problems as schema_problems
from aitbc_infra.loader import load_fleet
from aitbc_infra.status import (
    CERT_WARN_DAYS,
    Asked,
    ChainNode,
    Peer,
    arguments,
    ask,
    command,
    document,
    exit_code,
    gather,
    link_chains,
    parse,
    problems,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# When each release was last activated (stat's %Y of its directory): r2 a day after r1.
R1_TIME, R2_TIME = int((NOW - timedelta(days=2)).timestamp()), int((NOW - timedelta(days=1)).timestamp())
RULES = "a" * 64


def _history_line(result: str = "ok", step: str | None = None) -> str:
    run = Run("ops@ci", "a message", NOW - timedelta(hours=1), 1)
    line = finished(entry(run, {"project": "0123456789ab"}, {}), result, step, 3.0, 0)
    return encode(line)


def healthy(asked: Asked, heights: dict[str, int] | None = None) -> str:
    """What status.sh prints for a host where everything is as the model says."""
    lines = [f"now\t{int(NOW.timestamp())}"]
    for root in asked.apps:
        lines += [f"live\t{root}\treleases/r2", f"release\t{root}\t1\t2048\t{R1_TIME}\tr1",
                  f"release\t{root}\t1\t3072\t{R2_TIME}\tr2"]
    for unit in asked.units:
        sub = "waiting" if unit.endswith(".timer") else "running"
        lines += [f"unit\t{unit}\t{p}" for p in ("LoadState=loaded", "ActiveState=active",
                                                   f"SubState={sub}", "UnitFileState=enabled")]
    end = (NOW + timedelta(days=60)).strftime("%b %e %H:%M:%S %Y GMT")
    lines += [f"cert\t{lineage}\tnotAfter={end}" for lineage in asked.certificates]
    lines += [f"head\t{n.unit}\t" + json.dumps({"height": (heights or {}).get(n.unit, 100),
                                                   "hash": "0x1"}) for n in asked.chain]
    # A following node saw each peer's head two blocks ago (it fetches every few seconds).
    lines += [f"sync\t{n.unit}\t" + json.dumps({"height": 100, "peers": [
        {"url": p.url, "height": (heights or {}).get(p.unit, 100) - 2, "error": None}
        for p in n.peers]}) for n in asked.chain if n.sync_url]
    if asked.firewall:
        lines += [f"firewall\tconf\t{asked.firewall}", f"firewall\tlive\t{RULES}",
                  f"firewall\tapplied\t{RULES}"]
    lines.append(f"history\t7\t{_history_line()}")
    return "\n".join(lines) + "\n"


def _edited(output: str, old: str, new: str) -> str:
    assert old in output, old
    return output.replace(old, new)


# A host with one of each thing status reads, and a node (rpc-2) that follows another (rpc-1).
PEER = Peer("http://127.0.0.1:8081", "h", "rpc-1")
SYNC_URL = "http://127.0.0.1:8082/rpc/syncStatus"
ASKED = Asked(apps={"/opt/coordinator-api": "coordinator-api"},
              units=("coordinator-api", "coordinator-api.socket", "aitbc-sync.timer",
                     "firehol.service"),
              candidate_prefixes={"coordinator-api-candidate@": "coordinator-api"},
              certificates={"bubuit.net": "/etc/letsencrypt/live/bubuit.net/fullchain.pem"},
              chain=(ChainNode("rpc-1", "http://127.0.0.1:8081/rpc/head", "devnet", None),
                     ChainNode("rpc-2", "http://127.0.0.1:8082/rpc/head", "devnet", 15,
                               sync_url=SYNC_URL, peers=(PEER,))),
              firewall="f" * 64)
SEEN = f'"url": "{PEER.url}", "height": 98, "error": null'

SOON = (NOW + timedelta(days=CERT_WARN_DAYS - 4)).strftime("%b %e %H:%M:%S %Y GMT")
PAST = (NOW - timedelta(days=2)).strftime("%b %e %H:%M:%S %Y GMT")

# (case, how the healthy output is changed, the problems named as `what: why`)
CASES = [
    ("healthy", lambda o: o, []),
    ("stopped unit", lambda o: _edited(
        o, "coordinator-api\tActiveState=active\nunit\tcoordinator-api\tSubState=running",
        "coordinator-api\tActiveState=inactive\nunit\tcoordinator-api\tSubState=dead"),
     ["unit coordinator-api: inactive (dead)"]),
    ("disabled timer", lambda o: _edited(o, "aitbc-sync.timer\tUnitFileState=enabled",
                                         "aitbc-sync.timer\tUnitFileState=disabled"),
     ["unit aitbc-sync.timer: active (waiting), disabled"]),
    ("unknown unit", lambda o: _edited(o, "firehol.service\tLoadState=loaded",
                                       "firehol.service\tLoadState=not-found"),
     ["unit firehol.service: not-found, not loaded"]),
    ("expiring certificate", lambda o: o.replace(o.split("cert\tbubuit.net\t")[1].split("\n")[0],
                                                 f"notAfter={SOON}"),
     [f"certificate bubuit.net: expires in {CERT_WARN_DAYS - 4} day(s), on "
      f"{(NOW + timedelta(days=CERT_WARN_DAYS - 4)).isoformat().replace('+00:00', 'Z')} "
      f"(under {CERT_WARN_DAYS})"]),
    ("expired certificate", lambda o: o.replace(o.split("cert\tbubuit.net\t")[1].split("\n")[0],
                                                f"notAfter={PAST}"),
     [f"certificate bubuit.net: expired on "
      f"{(NOW - timedelta(days=2)).isoformat().replace('+00:00', 'Z')}"]),
    ("missing certificate", lambda o: o.replace(o.split("cert\tbubuit.net\t")[1].split("\n")[0],
                                                ""),
     ["certificate bubuit.net: none readable at /etc/letsencrypt/live/bubuit.net/fullchain.pem"]),
    # Its last fetches of its peer failed: what it saw is 40 blocks old.
    ("sync stopped", lambda o: _edited(o, SEEN, f'"url": "{PEER.url}", "height": 60, '
                                       '"error": "URLError: refused"'),
     [f"chain node rpc-2: saw its peer {PEER.url} at height 60, 40 blocks behind that peer's "
      "head (rpc-1 on h: 100; at most 15): its sync has stopped (URLError: refused)"]),
    ("sync never fetched", lambda o: _edited(o, SEEN, f'"url": "{PEER.url}", "height": null, '
                                             '"error": "not polled yet"'),
     [f"chain node rpc-2: has seen no head of its peer {PEER.url} (not polled yet)"]),
    ("peer not reported", lambda o: _edited(o, SEEN, '"url": "http://elsewhere", "height": 1'),
     [f"chain node rpc-2: has seen no head of its peer {PEER.url} (the node reports no such "
      "peer)"]),
    ("no sync status", lambda o: _edited(o, o.split("sync\trpc-2\t")[1].split("\n")[0], ""),
     [f"chain node rpc-2: no sync status from {SYNC_URL}"]),
    # Heads of independent proposers differ by any amount, a follower's own too: shown, not
    # named, as long as what it saw of its peer is recent.
    ("independent node behind", lambda o: _edited(o, 'rpc-1\t{"height": 100', 'rpc-1\t{"height": 3'),
     []),
    ("follower's own head behind", lambda o: _edited(o, 'rpc-2\t{"height": 100',
                                                     'rpc-2\t{"height": 60'), []),
    ("node silent", lambda o: _edited(o, 'rpc-1\t{"height": 100, "hash": "0x1"}', "rpc-1\t"),
     ["chain node rpc-1: no head height from http://127.0.0.1:8081/rpc/head"]),
    ("firewall conf edited", lambda o: _edited(o, f"conf\t{'f' * 64}", f"conf\t{'e' * 64}"),
     [f"firewall: {FIREHOL_CONF} differs from the rendered rules (edited by hand, or a deploy "
      "is owed)"]),
    ("live rules changed", lambda o: _edited(o, f"live\t{RULES}", f"live\t{'b' * 64}"),
     ["firewall: the live rules differ from those the deploy applied (changed by hand)"]),
    ("no applied digest", lambda o: _edited(o, f"applied\t{RULES}", "applied\t"),
     ["firewall: no record of the rules the deploy applied"]),
    ("revert armed", lambda o: _edited(o, f"applied\t{RULES}\n", f"applied\t{RULES}\n"
                                       f"firewall\tarmed\t{int(NOW.timestamp()) + 30}\n"),
     ["firewall: a revert is armed until 2026-03-01T12:00:30Z: rules a deploy applied are not "
      "confirmed over a new SSH connection yet; unless they are, the host puts the previous ones "
      "back then"]),
    ("revert armed, its time passed", lambda o: _edited(
        o, f"applied\t{RULES}\n", f"applied\t{RULES}\nfirewall\tarmed\t{int(NOW.timestamp()) - 60}\n"),
     ["firewall: a revert armed until 2026-03-01T11:59:00Z never ran (the host restarted "
      "meanwhile?): the rules live were never confirmed by their deploy; a deploy applies and "
      "confirms them again"]),
    ("revert armed, no time kept", lambda o: _edited(o, f"applied\t{RULES}\n",
                                                     f"applied\t{RULES}\nfirewall\tarmed\t\n"),
     ["firewall: a revert is armed until unknown: rules a deploy applied are not confirmed over "
      "a new SSH connection yet; unless they are, the host puts the previous ones back then"]),
    ("reverted", lambda o: _edited(o, f"applied\t{RULES}\n", f"applied\t{RULES}\n"
                                   "firewall\treverted\t2026-03-01T11:30:00Z\n"),
     ["firewall: the host put the previous rules back at 2026-03-01T11:30:00Z: a deploy's new "
      "rules were not confirmed over a new SSH connection in time (did they cut it?)"]),
    # A deploy ran after it (the history's last line, at 11:00): the revert is history.
    ("reverted before the last deploy", lambda o: _edited(
        o, f"applied\t{RULES}\n", f"applied\t{RULES}\nfirewall\treverted\t2026-03-01T10:30:00Z\n"),
     []),
    ("missing history", lambda o: o.split("history\t")[0], ["last deploy: no deploy recorded in "
                                                            "the history"]),
    ("history not an entry", lambda o: o.split("history\t")[0] + "history\t7\tnot json\n",
     ["last deploy: line 7: not JSON (Expecting value at column 1)"]),
    ("failed deploy", lambda o: o.split("history\t")[0] + "history\t8\t"
     + _history_line("failed", "nginx reload") + "\n",
     ["last deploy: failed at 2026-03-01T11:00:00Z, step nginx reload"]),
    ("no live release", lambda o: _edited(o, "live\t/opt/coordinator-api\treleases/r2",
                                          "live\t/opt/coordinator-api\t"),
     ["app coordinator-api: no live release (/opt/coordinator-api has no release link)"]),
    ("live release unfinished", lambda o: _edited(o, f"1\t3072\t{R2_TIME}\tr2",
                                                  f"0\t3072\t{R2_TIME}\tr2"),
     ["app coordinator-api: the live release r2 is an unfinished build"]),
    ("too many releases", lambda o: o + "release\t/opt/coordinator-api\t1\t10\t1\tr0\n"
     "release\t/opt/coordinator-api\t1\t10\t2\tr-1\n",
     ["app coordinator-api: keeps 4 releases (at most 3)"]),
    ("leftover candidate", lambda o: o + "candidate\tfailed\tcoordinator-api-candidate@r3.service\n"
     "candidate\tactive\tother-candidate@x.service\n"
     "candidate\tinactive\tcoordinator-api-candidate@r2.service\n",
     ["unit coordinator-api-candidate@r3.service: a candidate of coordinator-api left running "
      "or failed (by an interrupted deploy?)",
      "unit other-candidate@x.service: a candidate unit no app of the model runs (left by a "
      "deploy)"]),
]


@pytest.mark.parametrize(("change", "named"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_host_script_output_becomes_the_status_and_its_problems(change, named):
    status = parse("h", ASKED, change(healthy(ASKED)))
    link_chains([status])
    found = problems(status)
    assert [f"{p.what}: {p.why}" for p in found] == named
    assert all(p.host == "h" for p in found)
    assert exit_code(found) == (1 if named else 0)
    doc = document([status], found, "inventory.py")
    assert schema_problems(doc, load("status")) == []
    assert doc["exit_code"] == exit_code(found)


def test_a_healthy_host_is_read_whole():
    status = parse("h", ASKED, healthy(ASKED))
    app = status.apps[0]
    assert (app.live, [(r.name, r.kib, r.complete) for r in app.releases]) == \
        ("r2", [("r1", 2048, True), ("r2", 3072, True)])
    assert status.certificates[0].days_left == 60
    assert status.last_deploy == {"kind": "deploy", "time": "2026-03-01T11:00:00Z",
                                  "operator": "ops@ci", "message": "a message", "result": "ok",
                                  "step": None}
    assert status.firewall and status.firewall.rendered and status.firewall.live_as_applied


def test_lag_is_measured_against_the_highest_head_and_a_peers_view_against_its_own_host():
    remote = Peer("https://peer.example", "t", "rpc-9")
    asked = replace(ASKED, chain=(ASKED.chain[0], replace(ASKED.chain[1], peers=(remote,))))
    other = replace(ASKED, chain=(ChainNode("rpc-9", "http://10.0.0.9:8082/rpc/head", "devnet",
                                            None),
                                  ChainNode("rpc-x", "http://10.0.0.9:9000/rpc/head", "other",
                                            None)))
    # rpc-2 last saw rpc-9 at 98 (healthy() writes every peer two below 100); rpc-9 is at 130.
    here = parse("h", asked, healthy(asked))
    there = parse("t", other, healthy(other, {"rpc-9": 130, "rpc-x": 5000}))
    link_chains([here, there])
    assert {h.unit: h.lag for s in (here, there) for h in s.chain} == \
        {"rpc-1": 30, "rpc-2": 30, "rpc-9": 0, "rpc-x": 0}
    view = here.chain[1].peers[0]
    assert (view.seen, view.head, view.behind) == (98, 130, 32)
    assert [f"{p.what}: {p.why}" for p in problems(here)] == \
        ["chain node rpc-2: saw its peer https://peer.example at height 98, 32 blocks behind "
         "that peer's head (rpc-9 on t: 130; at most 15): its sync has stopped"]
    # The peer's host not read (`--host h`): its head is unknown, nothing is named.
    alone = parse("h", asked, healthy(asked))
    link_chains([alone])
    assert (alone.chain[1].peers[0].head, problems(alone)) == (None, [])


def test_a_following_node_is_asked_its_sync_status_and_its_peers_head_where_it_answers(data):
    """The sandbox's nodes follow their peers (the payload reports them at /rpc/syncStatus):
    declared on ns3's node, its peer site is followed through at1's proxy to node 1's RPC."""
    _, app = data.app("ns3_container", "blockchain-node")
    app["sync_status"] = "/rpc/syncStatus"
    fleet = data.load()
    rpcs = [n for n in ask(fleet, "ns3-aitbc").chain]
    assert [n.unit for n in rpcs] == ["aitbc-blockchain-rpc-3", "aitbc-blockchain-rpc-3-8081",
                                      "aitbc-blockchain-rpc-3-9080"]
    assert all(n.sync_url == n.url.removesuffix("/rpc/head") + "/rpc/syncStatus" for n in rpcs)
    assert {n.peers for n in rpcs} == {(Peer("https://aitbc.bubuit.net", "aitbc",
                                             "aitbc-blockchain-rpc-1"),)}
    assert {n.lag_max for n in rpcs} == {3 * 10 // 2}  # three sync intervals' blocks
    assert arguments(ask(fleet, "ns3-aitbc")).count("sync") == 3
    # A node declaring none is asked its head only.
    assert {(n.sync_url, n.peers, n.lag_max) for n in ask(fleet, "aitbc").chain} == \
        {(None, (), None)}


def test_a_host_that_cannot_be_read_is_named(fleet):
    def run(node, command_line):
        if node == "aitbc":
            return subprocess.CompletedProcess([], 255, "", "ssh: connect to host: refused\n")
        return subprocess.CompletedProcess([], 0, healthy(ask(fleet, node)), "")

    statuses = gather(fleet, run)
    found = [p for s in statuses for p in problems(s)]
    assert [str(p) for p in found] == ["aitbc: host: cannot be read: ssh: connect to host: refused"]
    assert schema_problems(document(statuses, found, "x"), load("status")) == []


def test_what_each_host_is_asked_comes_from_the_model(fleet):
    asked = {node: ask(fleet, node) for node in fleet.hosts}
    # Every declared unit (a scheduled job by its timer), the sockets, firehol where it runs.
    for node, host in fleet.hosts.items():
        for _, svc in host.services:
            assert svc.started_unit in asked[node].units
        assert ("firehol.service" in asked[node].units) == bool(host.firewall)
        assert set(asked[node].apps.values()) == {app.name for app in host.apps}
    # Only chain nodes' RPCs are asked their heads; every TLS site's lineage its certificate.
    assert {n.url.rsplit("/", 2)[-2:] == ["rpc", "head"] for a in asked.values()
            for n in a.chain} == {True}
    assert asked["at1"].certificates == {"bubuit.net": "/etc/letsencrypt/live/bubuit.net/fullchain.pem"}
    args = arguments(asked["ns3-root"])
    assert args[0] == RELEASE_MARKER and args[-2:] == ["history", DEPLOY_HISTORY]
    assert "firewall" in args and "app" not in args
    firewall = args.index("firewall")
    assert args[firewall + 1:firewall + 4] == [FIREHOL_CONF, FIREHOL_APPLIED_DIGEST,
                                               FIREHOL_SWITCH_DIR]


def test_the_script_reads_an_armed_revert_and_the_last_one(tmp_path):
    """status.sh's firewall record on this machine, against a switch directory laid out as
    firehol-activate and firehol-switch leave it (lib.sh)."""
    conf, applied, switch = tmp_path / "firehol.conf", tmp_path / "applied", tmp_path / "switch"
    conf.write_text("version 6\n")
    (switch / "armed").mkdir(parents=True)
    (switch / "armed" / "deadline").write_text("1772366430\n")
    (switch / "reverted").write_text("2026-03-01T11:30:00Z\n")
    asked = Asked(firewall="f" * 64)
    line = command(asked).replace(shlex.quote(FIREHOL_CONF), shlex.quote(str(conf)))
    line = line.replace(shlex.quote(FIREHOL_APPLIED_DIGEST), shlex.quote(str(applied)))
    line = line.replace(shlex.quote(FIREHOL_SWITCH_DIR), shlex.quote(str(switch)))
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    firewall = parse("h", asked, done.stdout).firewall
    assert (firewall.revert_armed_until, firewall.reverted_at) == \
        ("2026-03-01T12:00:30Z", "2026-03-01T11:30:00Z")
    (switch / "reverted").unlink()
    (switch / "armed" / "deadline").unlink()
    (switch / "armed").rmdir()
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    firewall = parse("h", asked, done.stdout).firewall
    assert (firewall.revert_armed_until, firewall.reverted_at) == (None, None)


def test_the_script_runs_here_and_its_output_parses(tmp_path):
    """status.sh itself, on this machine: an app root with two releases, a certificate made
    here, a history log (systemd and curl may answer nothing here: their values stay unknown)."""
    root = tmp_path / "app"
    for release in ("r1", "r2"):
        (root / "releases" / release).mkdir(parents=True)
    (root / "releases" / "r1" / RELEASE_MARKER).touch()
    (root / ".venv").symlink_to("releases/r1")
    cert = tmp_path / "fullchain.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(cert), "-days", "5", "-subj", "/CN=t"],
                   check=True, capture_output=True)
    log = tmp_path / "history.jsonl"
    log.write_text(f"{_history_line('interrupted')}\n{_history_line()}\n")
    asked = Asked(apps={str(root): "app"}, certificates={"t": str(cert)})
    line = command(asked).replace(DEPLOY_HISTORY, str(log))
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    status = parse("h", asked, done.stdout)
    app = status.apps[0]
    assert (app.live, sorted((r.name, r.complete) for r in app.releases)) == \
        ("r1", [("r1", True), ("r2", False)])
    assert status.certificates[0].days_left in (4, 5)
    assert status.last_deploy and status.last_deploy["result"] == "ok"
    assert [f"{p.what}: {p.why}" for p in problems(status)] == \
        [f"certificate t: expires in {status.certificates[0].days_left} day(s), on "
         f"{status.certificates[0].not_after} (under {CERT_WARN_DAYS})"]


class _Node(http.server.BaseHTTPRequestHandler):
    """Two nodes' RPCs on one port: /1/ (head 130) and /2/ (head 100; it last saw /1/ at 100)."""

    answers = {"/1/rpc/head": {"height": 130}, "/2/rpc/head": {"height": 100},
               "/2/rpc/syncStatus": {"height": 100, "peers": [
                   {"url": "https://peer.example", "height": 100, "error": "timed out"}]}}

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps(self.answers[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_script_reads_a_nodes_head_and_sync_status_here():
    """status.sh's `head` and `sync` records with curl, against two RPCs served here."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        asked = Asked(chain=(
            ChainNode("rpc-1", f"{url}/1/rpc/head", "devnet", None),
            ChainNode("rpc-2", f"{url}/2/rpc/head", "devnet", 15, sync_url=f"{url}/2/rpc/syncStatus",
                      peers=(Peer("https://peer.example", "h", "rpc-1"),))))
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        done = subprocess.run(["sh", "-c", command(asked)], capture_output=True, text=True,
                              check=True, env=env)
    finally:
        server.shutdown()
    status = parse("h", asked, done.stdout)
    link_chains([status])
    assert [h.height for h in status.chain] == [130, 100]
    view = status.chain[1].peers[0]
    assert (view.seen, view.error, view.head, view.behind) == (100, "timed out", 130, 30)
    assert "chain node rpc-2: saw its peer https://peer.example at height 100, 30 blocks behind" \
        in [f"{p.what}: {p.why}" for p in problems(status)][0]


# The command line ---------------------------------------------------------------------------------


def _no_connection(*args, **kwargs):
    raise AssertionError("connected")


def test_bad_input_exits_2_before_any_connection(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(status_command, "hosts_and_runner", _no_connection)
    assert main(["status", "--inventory", str(tmp_path / "missing.py")]) == 2
    err = capsys.readouterr().err
    assert "aitbc-infra status: error:" in err and "missing.py" in err
    broken = tmp_path / "inventory.py"
    broken.write_text("this is not python(\n")
    assert main(["status", "--inventory", str(broken), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "inventory.py" in err
    inventory = str(PROJECT_ROOT / "inventory.py")
    assert main(["status", "--inventory", inventory, "--host", "nope"]) == 2
    assert "--host 'nope': not a host of" in capsys.readouterr().err


def _fleet_answering(fleet, change=lambda node, output: output):
    """A connect for cmd_status: every host answers healthy, as `change` leaves it."""

    def connect(inventory):
        def run(node, command_line):
            return subprocess.CompletedProcess([], 0, change(node, healthy(ask(fleet, node))), "")
        return run

    return connect


def test_the_command_exits_0_on_a_healthy_fleet_with_a_valid_document(fleet, monkeypatch, capsys):
    monkeypatch.setattr(status_command, "hosts_and_runner", _fleet_answering(fleet))
    inventory = str(PROJECT_ROOT / "inventory.py")
    assert main(["status", "--inventory", inventory]) == 0
    out = capsys.readouterr().out
    assert "== ns3-aitbc" in out and out.rstrip().endswith(f"all {len(fleet.hosts)} host(s) healthy")
    assert main(["status", "--inventory", inventory, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert schema_problems(doc, load("status")) == [] and doc["problems"] == []
    assert set(doc["hosts"]) == set(fleet.hosts)


def test_the_command_exits_1_naming_host_what_and_why(fleet, monkeypatch, capsys):
    def stopped(node, output):
        return output.replace("aitbc-wallet-daemon\tActiveState=active",
                              "aitbc-wallet-daemon\tActiveState=failed") if node == "aitbc" else output

    monkeypatch.setattr(status_command, "hosts_and_runner", _fleet_answering(fleet, stopped))
    inventory = str(PROJECT_ROOT / "inventory.py")
    assert main(["status", "--inventory", inventory]) == 1
    out, err = capsys.readouterr()
    assert "PROBLEM  unit aitbc-wallet-daemon: failed (running)" in out
    assert err == "aitbc-infra status: aitbc: unit aitbc-wallet-daemon: failed (running)\n"
    assert main(["status", "--inventory", inventory, "--json", "--host", "aitbc"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 1 and list(doc["hosts"]) == ["aitbc"]
    assert doc["problems"] == [{"host": "aitbc", "what": "unit aitbc-wallet-daemon",
                                "why": "failed (running)"}]


def test_the_services_from_debian_packages_are_asked_and_a_stopped_one_is_named():
    """The pool-hub example's hosts run PostgreSQL and Redis for their apps: status asks the
    cluster's own unit (postgresql.service only starts its clusters) and Redis's, and names
    one that stopped; the production hosts run neither and are asked neither."""
    fleet = load_fleet(PROJECT_ROOT / "examples" / "pool-hub" / "inventory.py")
    asked = ask(fleet, "ns3-pool")
    assert {"postgresql@17-main", "redis-server"} <= set(asked.units)
    assert not {u for n in ("at1", "aitbc", "ns3-root", "ns3-aitbc")
                for u in ask(fleet, n).units if u.startswith(("postgresql", "redis"))}
    output = _edited(healthy(asked), "redis-server\tActiveState=active\nunit\tredis-server\t"
                     "SubState=running", "redis-server\tActiveState=failed\nunit\tredis-server\t"
                     "SubState=failed")
    assert [str(p) for p in problems(parse("ns3-pool", asked, output))] == \
        ["ns3-pool: unit redis-server: failed (failed)"]
