"""Running the deploy against the sandbox and reading the hosts' state back."""

from __future__ import annotations

import functools
import os
import secrets
import shlex
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from system_state import not_running
from traffic import REPORTS, Target, running

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy import pyinfra_command
from aitbc_infra.exposure import user_routes
from aitbc_infra.host_names import PENDING_DIR, PREVIOUS_SUFFIX
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox import machines, outside_view, paths, procs, ssh_run
from aitbc_infra.sandbox.ssh import current_plan
from aitbc_infra.summary import run_results, summary_text
from aitbc_infra.verify import verify_fleet

PROXY_IP = "10.231.0.2"
SITE = "aitbc.bubuit.net"

# Which app answers each route a user opens on the public site: a marker its body holds.
# What each route answers (status, redirect) is the model's (exposure.user_routes).
MARKERS = {
    "/": 'content="website"',
    "/explorer/": 'content="explorer"',
    "/marketplace/": 'content="marketplace"',
    "/docs/": 'content="docs"',
    "/Exchange": "aitbc-marker: trade-exchange",
    "/exchange": None,
    "/api/health": '"service": "coordinator-api"',
    "/api/explorer/blocks": '"service": "coordinator-api"',
    "/api/users/users/1/transactions": '"service": "coordinator-api"',
    "/api/trades/recent": '"service": "exchange-api"',
    "/api/orders/orderbook": '"service": "exchange-api"',
    "/admin/stats": '"service": "coordinator-api"',  # X-Api-Key required: 401 from the app
    "/rpc/head": '"service": "blockchain-node"',
    "/wallet/": '"service": "wallet-daemon"',  # the daemon's own 404
    "/v1/health": '"service": "mock-coordinator"',  # the mock's own 404
    "/health": "OK",
    "/Marketplace": None,
    "/BrowserWallet": None,
}


def _site_routes() -> dict[str, tuple[int, str | None, str | None]]:
    """path asked -> (status, redirect target or None, marker in the body or None): the
    document's 18 routes as the model declares them, seen through at1's TLS proxy."""
    routes = {r.route.probe_path: (r.route.expected_status, r.redirect, MARKERS[r.route.probe_path])
              for r in user_routes(load_fleet(PROJECT_ROOT / "inventory.py"))
              if r.site.server_name == SITE}
    assert set(routes) == set(MARKERS), "MARKERS names the model's routes, no more, no less"
    # A path under an SPA that no file answers: the SPA's index.html does.
    return {**routes, "/explorer/blocks/42": (200, None, 'content="explorer"')}


ROUTES = _site_routes()


@dataclass
class DeployRun:
    returncode: int
    output: str  # pyinfra's log, then its JSON
    results: dict  # pyinfra's --json results

    @property
    def changed(self) -> int:
        """Operations that changed something on some host."""
        return self.results["totals"]["success"]

    def changed_operations(self) -> list[str]:
        return [op["name"] for op in self.results["operations"] if op["success"]]

    @property
    def summary(self) -> str:
        return summary_text(self.results)


def start_deploy(inventory: Path, tree: Path = PROJECT_ROOT, **popen) -> subprocess.Popen:
    """Start the deploy of the project at `tree` (another checkout: its code, templates, data)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.Popen(pyinfra_command(inventory), cwd=tree, env=env, text=True, **popen)


def deploy(inventory: Path, tree: Path = PROJECT_ROOT) -> DeployRun:
    """Run the deploy of the project at `tree` to its end."""
    proc = start_deploy(inventory, tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        proc.kill()
    return DeployRun(proc.returncode, stderr + stdout, run_results(stdout, stderr))


def project_copy(tree: Path, dirs: tuple[str, ...]) -> Path:
    """Another checkout of this project at `tree`: `dirs` and the inventory copied (caches and
    the SPAs' node_modules left out), its own .sandbox state when it runs a sandbox command."""
    tree.mkdir()
    for name in dirs:
        shutil.copytree(PROJECT_ROOT / name, tree / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules"))
    shutil.copy(PROJECT_ROOT / "inventory.py", tree / "inventory.py")
    return tree


def changed_tree(tmp: Path, path: str, old: str, new: str,
                 also: tuple[tuple[str, str, str], ...] = ()) -> Path:
    """A checkout of this project with one edit in `path` (and each (path, old, new) of `also`):
    code, templates, data, payload and build outputs copied (a source tree may not link outside
    itself); only the SPAs' node_modules are shared, as links."""
    tree = project_copy(tmp / "tree", ("src", "deploys", "templates", "group_data",
                                       "constraints", "build", "payload"))
    for modules in (PROJECT_ROOT / "payload").glob("apps/*/node_modules"):
        (tree / modules.relative_to(PROJECT_ROOT)).symlink_to(modules)
    for one_path, one_old, one_new in ((path, old, new), *also):
        edited = tree / one_path
        text = edited.read_text()
        assert one_old in text, f"{one_old!r} not in {one_path}"
        edited.write_text(text.replace(one_old, one_new, 1))
    return tree


# A release of the coordinator API that fails its gate: COORDINATOR_MAIN edited (old, new).
COORDINATOR_MAIN = "payload/apps/coordinator-api/src/app/main.py"
BROKEN_COORDINATOR = {
    # The process exits at import.
    "cannot start": ('SERVICE = "coordinator-api"\n',
                     'SERVICE = "coordinator-api"\nraise RuntimeError("this release cannot start")\n'),
    # It runs but says it is unwell: the candidate's gate waits out its timeout.
    "unhealthy": ('        return await respond(send, 200, body, cors)\n',
                  '        return await respond(send, 503, body, cors)\n'),
}


def variant_inventory(tmp: Path, group: str, old: str, new: str) -> Path:
    """The sandbox inventory beside a copy of one group_data module with one fact changed."""
    shutil.copy(paths().inventory, tmp / "inventory.py")
    (tmp / "group_data").mkdir()
    module = (PROJECT_ROOT / "group_data" / f"{group}.py").read_text()
    assert old in module, f"{old!r} not in {group}.py"
    (tmp / "group_data" / f"{group}.py").write_text(module.replace(old, new, 1))
    return tmp / "inventory.py"


def host_state(inventory: Path) -> dict[str, dict]:
    """Per host: checksum of every managed file, start time of every unit, nginx worker pids."""
    fleet = load_fleet(inventory)
    state = {}
    for node, files in render_fleet(fleet).items():
        host = fleet.hosts[node]
        # A scheduled job starts at each run of its timer: the timer is the unit a deploy starts.
        units = [svc.started_unit for _, svc in host.services]
        script = "; ".join(
            [f"echo file {f.path} $(sha256sum {f.path} | cut -c1-16)" for f in files]
            + [f"echo unit {u} $(systemctl show -p ActiveEnterTimestamp --value {u})"
               for u in units]
            + ["echo nginx $(pgrep -d, -P $(cat /run/nginx.pid 2>/dev/null || echo 0) || true)"]
        )
        out = ssh_run(node, script, check=True).stdout.splitlines()
        state[node] = {
            "files": {line.split()[1]: line.split()[2] for line in out if line.startswith("file ")
                      and len(line.split()) > 2},
            "units": {line.split()[1]: line.split(" ", 2)[2] for line in out
                      if line.startswith("unit ")},
            "nginx_workers": next(line for line in out if line.startswith("nginx")),
        }
    return state


def unit_properties(node: str, unit: str, *properties: str) -> dict[str, str]:
    """systemctl show of a service's properties on a host."""
    asked = " ".join(f"-p {p}" for p in properties)
    out = ssh_run(node, f"systemctl show {asked} -- {unit}.service", check=True).stdout
    return dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)


# What a command gets when a unit runs it: the unit's own identity and file-system view.
AS_THE_UNIT = ("User", "Group", "SupplementaryGroups", "UMask", "ProtectSystem", "ProtectHome",
               "PrivateTmp", "ReadWritePaths")


def run_as_unit(node: str, unit: str, script: str) -> str:
    """What `script` prints (stdout and stderr), run by sh in a transient unit with `unit`'s
    user, groups, umask and file-system sandboxing as systemd shows them for the real unit."""
    shown = unit_properties(node, unit, *AS_THE_UNIT)
    properties = [f"--property={key}={shown[key]}" for key in AS_THE_UNIT if shown.get(key)]
    command = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect",
               f"--unit=aitbc-shared-check-{secrets.token_hex(4)}", *properties,
               "--", "/bin/sh", "-c", script]
    return ssh_run(node, shlex.join(command), timeout=60).stdout.strip()


def fetch(path: str, *, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """GET through at1's TLS proxy, trusting only the sandbox ACME root: status, Location, body."""
    cmd = ["curl", "-s", "-m", "10", "--cacert", str(paths().pebble_root), "--resolve",
           f"{SITE}:443:{PROXY_IP}", "-o", "-", "-w", "\n%{http_code} %{redirect_url}",
           f"https://{SITE}{path}"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    body, _, tail = out.rpartition("\n")
    status, _, location = tail.partition(" ")
    return int(status or 0), location.strip(), body


# A request loop while a deploy runs, and what a finished transaction leaves -------------


NS3_PUBLIC = "10.231.0.3"
NS3_FORWARDS = {8000: "/v1/health", 8081: "/rpc/head", 8082: "/rpc/head", 9080: "/rpc/head"}
FORWARDS_FROM = "at1"  # ns3's forwards admit the peer site only


def machine_netns(name: str) -> str:
    """The network namespace of a sandbox machine now: that of its PID 1 (nspawn's child)."""
    p = paths()
    nspawn = machines.running_pid(p, current_plan(p).machine(name))
    children = procs.children(nspawn) if nspawn else []
    if not children:
        raise LookupError(f"{name} is not running")
    return f"/proc/{children[0]}/ns/net"


def targets() -> list[Target]:
    through_proxy = [Target(path, PROXY_IP, 443, path, status, tls_name=SITE)
                     for path, (status, _, _) in sorted(ROUTES.items())]
    at1 = functools.partial(machine_netns, FORWARDS_FROM)
    forwards = [Target(f"ns3:{port}", NS3_PUBLIC, port, path, 200, netns=at1)
                for port, path in NS3_FORWARDS.items()]
    return through_proxy + forwards


@contextmanager
def request_loop(title: str):
    with running(targets(), str(paths().pebble_root)) as traffic:
        yield traffic
        time.sleep(1)  # a last round after the run ended
    REPORTS.append(f"{title}\n{traffic.report()}")


def pending_and_copies(node: str) -> str:
    """Leftovers of an unfinished transaction on a host: journal files, kept copies."""
    return ssh_run(node, f"ls {PENDING_DIR}; find /etc -name '*{PREVIOUS_SUFFIX}'",
                   check=True).stdout.strip()


def assert_clean(inventory: Path) -> None:
    """Nothing owed left on any host, and every host healthy (`running`, no failed unit)."""
    nodes = list(load_fleet(inventory).hosts)
    for node in nodes:
        assert pending_and_copies(node) == "", node
    assert not_running(nodes) == {}


def assert_noop(inventory: Path) -> None:
    run = deploy(inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == 0, run.changed_operations()


def converge_back(inventory: Path) -> None:
    """The sandbox as `inventory` has it again, at the end of a test that changed it: a deploy
    that succeeds, nothing owed left on any host, and a second deploy that changes nothing."""
    run = deploy(inventory)
    assert run.returncode == 0, run.output[-3000:]
    assert_clean(inventory)
    assert_noop(inventory)


def assert_verified(inventory: Path, report: Path, *checks: str) -> None:
    """verify passes on every host, and ran each of `checks` (a part of a check's name, e.g.
    "aitbc: unit X runs its files on disk")."""
    assert verify_fleet(inventory, junit_xml=report, outside_view=outside_view) == 0, \
        verify_failures(report)
    names = [case.get("name", "") for case in ET.parse(report).getroot().iter("testcase")]
    for check in checks:
        assert any(check in name for name in names), f"verify ran no check {check!r}"


# Faults verify must see ----------------------------------------------------------------


def verify_failures(report: Path) -> dict[str, str]:
    """`host: check` -> message of every failed check of a verify JUnit report."""
    failed = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            name = case.get("name")
            failed[name[name.index("[") + 1:-1]] = problem.get("message", "")
    return failed


@contextmanager
def faults_injected(inventory: Path, tmp: Path, faults, undo=()) -> Iterator[dict[str, str]]:
    """Run each (host, command, ...) of `faults`; verify must fail: its failures are yielded.
    Then the (host, command) of `undo` (what a redeploy leaves alone), a redeploy, and verify
    must be green again."""
    try:
        for host, command, *_ in faults:
            ssh_run(host, command, check=True)
        report = tmp / "faulty.xml"
        assert verify_fleet(inventory, junit_xml=report, outside_view=outside_view) == 1
        yield verify_failures(report)
    finally:
        for host, command in undo:
            ssh_run(host, command)
        run = deploy(inventory)
    assert run.returncode == 0, run.output[-3000:]
    healed = tmp / "healed.xml"
    assert verify_fleet(inventory, junit_xml=healed, outside_view=outside_view) == 0, verify_failures(healed)
