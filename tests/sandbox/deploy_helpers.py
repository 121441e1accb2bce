"""Running the deploy against the sandbox and reading the hosts' state back."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from system_state import not_running
from traffic import REPORTS, Target, running

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy import pyinfra_command
from aitbc_infra.host_names import PENDING_DIR, PREVIOUS_SUFFIX
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet
from aitbc_infra.sandbox import paths, ssh_run
from aitbc_infra.summary import run_results, summary_text

PROXY_IP = "10.231.0.2"
SITE = "aitbc.bubuit.net"

# The document's 18 routes, seen from the internet through at1's TLS proxy:
# path asked -> (status, redirect target or None, marker in the body or None)
ROUTES = {
    "/": (200, None, 'content="website"'),
    "/explorer/": (200, None, 'content="explorer"'),
    "/explorer/blocks/42": (200, None, 'content="explorer"'),  # SPA fallback
    "/marketplace/": (200, None, 'content="marketplace"'),
    "/docs/": (200, None, 'content="docs"'),
    # The stdlib server.py serves its directory, which has no "Exchange": its own 404 page.
    "/Exchange": (404, None, "File not found"),
    "/exchange": (301, "https://aitbc.bubuit.net/Exchange", None),
    "/api/health": (200, None, '"service": "coordinator-api"'),
    "/api/explorer/blocks": (200, None, '"service": "coordinator-api"'),
    "/api/users/": (200, None, '"service": "coordinator-api"'),
    "/api/trades/recent": (200, None, '"service": "exchange-api"'),
    "/api/orders/orderbook": (200, None, '"service": "exchange-api"'),
    "/admin/stats": (401, None, '"service": "coordinator-api"'),  # X-Api-Key required
    "/rpc/head": (200, None, '"service": "blockchain-node"'),
    "/wallet/": (200, None, '"service": "wallet-daemon"'),
    "/v1/health": (200, None, '"service": "mock-coordinator"'),
    "/health": (200, None, "OK"),
    "/Marketplace": (301, "https://aitbc.bubuit.net/marketplace/", None),
    "/BrowserWallet": (301, "https://aitbc.bubuit.net/docs/browser-wallet.html", None),
}


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


def changed_tree(tmp: Path, path: str, old: str, new: str,
                 also: tuple[tuple[str, str, str], ...] = ()) -> Path:
    """A checkout of this project with one edit in `path` (and each (path, old, new) of `also`):
    code, templates, data, payload and build outputs copied (a source tree may not link outside
    itself); only the SPAs' node_modules are shared, as links."""
    tree = tmp / "tree"
    tree.mkdir()
    for name in ("src", "deploys", "templates", "group_data", "constraints", "build", "payload"):
        shutil.copytree(PROJECT_ROOT / name, tree / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules"))
    shutil.copy(PROJECT_ROOT / "inventory.py", tree / "inventory.py")
    for modules in (PROJECT_ROOT / "payload").glob("apps/*/node_modules"):
        (tree / modules.relative_to(PROJECT_ROOT)).symlink_to(modules)
    for one_path, one_old, one_new in ((path, old, new), *also):
        edited = tree / one_path
        text = edited.read_text()
        assert one_old in text, f"{one_old!r} not in {one_path}"
        edited.write_text(text.replace(one_old, one_new, 1))
    return tree


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
        units = [svc.unit for _, svc in host.services]
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


def targets() -> list[Target]:
    through_proxy = [Target(path, PROXY_IP, 443, path, tls_name=SITE) for path in sorted(ROUTES)]
    forwards = [Target(f"ns3:{port}", NS3_PUBLIC, port, path) for port, path in NS3_FORWARDS.items()]
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
