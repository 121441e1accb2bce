"""The end of a deploy: one line per host saying whether it converged, and if not, why.

Read from pyinfra's `--json` results, so it does not depend on the layout of its tables.
A host that fails to connect has no operations at all: it is named from `failed_hosts`; nor
does a host that owed nothing (the deploy adds no operation for what is as planned): it is
named from the log's "Connected" lines.
When every host failed, pyinfra stops ("No hosts remaining!") without results; the summary
then comes from its log, whose host lines read "    [HOST] message".
Under each host come the restarts and reloads the run decided were owed there, as the deploy
printed them before its first operation ("    [HOST] owed: restart UNIT: why", deploys/site.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

OWED = "owed: "  # begins each line of a host's decision in the deploy's log


@dataclass
class HostOutcome:
    host: str
    changed: int = 0
    unchanged: int = 0
    failed_operations: list[str] = field(default_factory=list)
    failed: bool = False
    owed: list[str] = field(default_factory=list)  # what the run decided it owed the host

    @property
    def line(self) -> str:
        if not self.failed:
            if not (self.changed or self.unchanged):  # no operation was owed
                return f"ok       {self.host:<12} nothing owed"
            return f"ok       {self.host:<12} {self.changed} changed, {self.unchanged} unchanged"
        why = (f"failed at: {'; '.join(self.failed_operations)}" if self.failed_operations
               else "no operation ran: could not connect (see its log lines above)")
        return f"FAILED   {self.host:<12} {why}"


def parse_results(stdout: str) -> dict:
    """The `results` object pyinfra --json printed last on stdout."""
    start = stdout.find("{")
    if start < 0:
        raise ValueError("pyinfra printed no JSON results (did it stop before running?)")
    return json.loads(stdout[start:])["results"]


def run_results(stdout: str, log: str) -> dict:
    """The run's results: its JSON when pyinfra printed it (with "hosts": every host its log
    says it connected to), else what its log tells."""
    try:
        results = parse_results(stdout)
    except ValueError:
        return results_from_log(log)
    # Only the hosts pyinfra says it connected to: a --diff context line can look like a host's
    # ("    [Unit]" of a unit file).
    said = _said(log)
    connected = [host for host, lines in said.items() if "Connected" in lines]
    return {**results, "hosts": sorted(connected), **_owed(said)}


def _owed(said: dict[str, list[str]]) -> dict:
    """{"owed": {host: its decision's lines}} when a host owed anything, else nothing."""
    owed = {host: [line.removeprefix(OWED) for line in lines if line.startswith(OWED)]
            for host, lines in said.items()}
    owed = {host: lines for host, lines in owed.items() if lines}
    return {"owed": owed} if owed else {}


_HOST_LINE = re.compile(r"^\s+\[(?P<host>[^\]]+)\]\s+(?P<message>.*)$")


def _said(log: str) -> dict[str, list[str]]:
    """What the log says of each host, line by line."""
    said: dict[str, list[str]] = {}
    for line in log.splitlines():
        if m := _HOST_LINE.match(line):
            said.setdefault(m["host"], []).append(m["message"].strip())
    return said


def results_from_log(log: str) -> dict:
    """What results can be told from the log of a run that ended without any: who failed, why."""
    said = _said(log)
    failed = {}
    for host, lines in said.items():
        for i, line in enumerate(lines):
            if line.startswith("Could not connect"):
                failed[host] = line
            elif line.startswith("Error"):
                failed[host] = lines[i - 1] if i else line  # the line before says what failed
    return {"operations": [{"name": why, "success": [], "no_change": [], "error": [host]}
                           for host, why in sorted(failed.items())],
            "totals": {"hosts": len(said), "success": 0, "error": len(failed), "no_change": 0},
            "failed_hosts": sorted(failed), **_owed(said)}


def outcomes(results: dict) -> list[HostOutcome]:
    hosts: dict[str, HostOutcome] = {}

    def of(name: str) -> HostOutcome:
        return hosts.setdefault(name, HostOutcome(name))

    for name in results.get("hosts", []):
        of(name)
    for op in results["operations"]:
        for name in op["success"]:
            of(name).changed += 1
        for name in op["no_change"]:
            of(name).unchanged += 1
        for name in op["error"]:
            of(name).failed_operations.append(op["name"])
    for name in results["failed_hosts"]:
        of(name).failed = True
    for name, lines in results.get("owed", {}).items():
        of(name).owed = lines
    return sorted(hosts.values(), key=lambda o: (not o.failed, o.host))


def summary_text(results: dict) -> str:
    rows = outcomes(results)
    failed = [o.host for o in rows if o.failed]
    if not rows:  # no results and no failed host in the log: pyinfra stopped on its own error
        return "\n--> Summary: the run stopped before any host's result: see the error above"
    head = (f"{len(failed)} of {len(rows)} host(s) failed: {', '.join(failed)}" if failed
            else f"all {len(rows)} host(s) converged")
    return "\n".join(["", f"--> Summary: {head}",
                      *(line for o in rows for line in (f"    {o.line}", *(
                          f"             {OWED}{owed}" for owed in o.owed)))])
