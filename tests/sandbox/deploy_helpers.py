"""Running the deploy against the sandbox and reading the hosts' state back."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet
from aitbc_infra.rollout import pyinfra_command
from aitbc_infra.sandbox import paths, ssh_run

PROXY_IP = "10.231.0.2"
SITE = "aitbc.bubuit.net"


@dataclass
class DeployRun:
    returncode: int
    output: str

    @property
    def changed(self) -> int:
        """Operations that changed something, from pyinfra's "Grand total" row."""
        row = next(line for line in self.output.splitlines() if "Grand total" in line)
        success = row.split()[3]  # Grand total <hosts> <success> <error> <no change>
        return 0 if success == "-" else int(success)

    def changed_operations(self) -> list[str]:
        rows = self.output.split("--> Results:", 1)[1].splitlines()[2:]
        return [re.split(r"\s{2,}", r.strip())[0] for r in rows
                if len(r.split()) > 4 and r.split()[-3] != "-" and "Grand total" not in r]


def deploy(inventory: Path) -> DeployRun:
    proc = subprocess.run(pyinfra_command(inventory), cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=1200)
    return DeployRun(proc.returncode, proc.stdout + proc.stderr)


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
