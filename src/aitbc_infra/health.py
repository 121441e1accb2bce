"""Health of a deployed fleet: every service's health path, asked on its own host over SSH."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aitbc_infra.fleet import Fleet

# (node, shell command) -> the finished ssh run: the sandbox's ssh_run, or any with its signature.
Runner = Callable[[str, str], subprocess.CompletedProcess]


@dataclass
class Health:
    node: str
    unit: str
    url: str
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "200"


def health_table(fleet: Fleet, runner: Runner) -> list[Health]:
    """One SSH round trip per host through `runner`, the hosts at once: curl every health URL
    there, read back the status codes."""
    checks = {node: [(svc.unit, f"{fleet.endpoint(node, node, svc.unit).url}{svc.health}")
                     for _, svc in host.services if svc.health]
              for node, host in fleet.hosts.items()}
    checks = {node: c for node, c in checks.items() if c}

    def ask(node: str) -> list[Health]:
        script = "; ".join(
            f"echo {shlex.quote(unit)} $(curl -s -o /dev/null -m 5 -w '%{{http_code}}' "
            f"{shlex.quote(url)})" for unit, url in checks[node]
        )
        result = runner(node, script)
        codes = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
        return [Health(node, unit, url, codes.get(unit, "unreachable")) for unit, url in checks[node]]

    with ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        return [row for rows in pool.map(ask, checks) for row in rows]


def print_table(rows: list[Health]) -> None:
    print(f"\n{'HOST':<10} {'SERVICE':<30} {'HEALTH URL':<42} STATUS")
    for r in rows:
        print(f"{r.node:<10} {r.unit:<30} {r.url:<42} {r.status}{'' if r.ok else '  FAIL'}")
