"""The end of a deploy: one line per host saying whether it converged, and if not, why; for a
dry run, whether anything would change.

Read from pyinfra's `--json` output, so it does not depend on the layout of its tables: a real
run's `results` (each operation with the hosts it changed, left unchanged or failed on), a dry
run's `plan` (each operation with the hosts it would change; pyinfra computes it only without
`-y`, see aitbc_infra/deploy.py).
A host that fails to connect has no operations at all: it is named from `failed_hosts`; nor
does a host that owed nothing (the deploy adds no operation for what is as planned): it is
named from the log's "Connected" lines.
When every host failed, pyinfra stops ("No hosts remaining!") without results; the summary
then comes from its log, whose host lines read "    [HOST] message".
Under each host come the restarts and reloads the run decided were owed there, as the deploy
printed them before its first operation ("    [HOST] owed: restart UNIT: why", deploys/site.py).

Beside the log, deploys/site.py records what it knows of each host for whoever started the run
(`record`): the decision as data, or the holder of the lock it could not take. One JSON line per
fact in the file named by RECORDS_ENV; a plain `pyinfra` run names none and nothing is written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

OWED = "owed: "  # begins each line of a host's decision in the deploy's log
NOTE = "note: "  # begins each line of what the run leaves as it is on purpose (no drift)
RECORDS_ENV = "AITBC_DEPLOY_RECORDS"  # the file deploys/site.py appends its records to

# What an operation did on a host (a real run), or would do (a dry run).
CHANGED, UNCHANGED, FAILED, WOULD_CHANGE = "changed", "unchanged", "failed", "would_change"


def record(host: str, **facts) -> None:
    """Append `facts` of `host` to the records of this run, when whoever started it asked for
    them. One write of one line: hosts prepared side by side never interleave."""
    path = os.environ.get(RECORDS_ENV)
    if not path:
        return
    line = (json.dumps({"host": host, **facts}) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: Path) -> dict[str, dict]:
    """{host: every fact recorded of it}; nothing when no host got as far as recording one."""
    found: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            facts = json.loads(line)
            found.setdefault(facts.pop("host"), {}).update(facts)
    return found


@dataclass
class HostOutcome:
    host: str
    changed: int = 0  # operations that changed the host (a dry run: that would)
    unchanged: int = 0
    failed_operations: list[str] = field(default_factory=list)
    failed: bool = False
    owed: list[str] = field(default_factory=list)  # what the run decided it owed the host
    notes: list[str] = field(default_factory=list)  # what it left as it is on purpose
    operations: list[tuple[str, str]] = field(default_factory=list)  # (name, what it did), in order
    decision: dict | None = None  # Decision.as_dict(), as deploys/site.py recorded it
    node: str | None = None  # the model's name of the host, as recorded
    lock_holder: str | None = None  # another deploy held the host's lock: who
    dry: bool = False

    @property
    def changes(self) -> bool:
        """The run changed the host (a dry run: would): an operation, or anything owed."""
        lines = self.decision["lines"] if self.decision else []
        return bool(self.changed or self.owed or lines)

    @property
    def why(self) -> str:
        if self.lock_holder:
            return f"the deploy lock is held by {self.lock_holder}"
        if self.failed_operations:
            return f"failed at: {'; '.join(self.failed_operations)}"
        return "no operation ran: could not connect (see its log lines above)"

    @property
    def line(self) -> str:
        if self.failed:
            return f"FAILED   {self.host:<12} {self.why}"
        if self.dry:
            return (f"change   {self.host:<12} {self.changed} operation(s) would run" if self.changes
                    else f"ok       {self.host:<12} nothing would change")
        if not (self.changed or self.unchanged):  # no operation was owed
            return f"ok       {self.host:<12} nothing owed"
        return f"ok       {self.host:<12} {self.changed} changed, {self.unchanged} unchanged"


def pyinfra_output(stdout: str) -> dict:
    """The JSON document pyinfra --json printed last on stdout: {"plan": ..., "results": ...},
    `results` null for a dry run. Whatever else reached stdout before it (a build tool's
    output) is passed over."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict) and "results" in found:
                return found
    raise ValueError("pyinfra printed no JSON results (did it stop before running?)")


def run_results(stdout: str, log: str, records: dict[str, dict] | None = None) -> dict:
    """The run's results: its JSON when pyinfra printed it (with "hosts": every host its log
    says it connected to), else what its log tells; with what deploys/site.py recorded."""
    said = _said(log)
    try:
        output = pyinfra_output(stdout)
    except ValueError:
        return {**results_from_log(log), **_recorded(records)}
    results = output["results"]
    if results is None:  # a dry run: nothing ran, the plan says what would change
        results = plan_results(output.get("plan") or [], said)
    # Only the hosts pyinfra says it connected to: a --diff context line can look like a host's
    # ("    [Unit]" of a unit file).
    connected = [host for host, lines in said.items() if "Connected" in lines]
    return {**results, "hosts": sorted(connected), **_owed(said), **_notes(said),
            **_recorded(records)}


def plan_results(plan: list[dict], said: dict[str, list[str]]) -> dict:
    """A dry run's plan as results: each operation with the hosts it would change. A change
    pyinfra calls conditional (`_if`, which the deploy does not use) counts as one: a dry run
    says what may change. Its JSON names no failed host: those are the hosts the log says it
    could not connect to (any other failure stops the whole run, without JSON)."""
    failed = sorted(host for host, lines in said.items()
                    if any(line.startswith("Could not connect") for line in lines))
    operations = [{"name": op["name"], "success": [], "no_change": [], "error": [],
                   "would_change": sorted({*op.get("hosts_with_change", []),
                                           *op.get("hosts_with_conditional_change", [])})}
                  for op in plan]
    would = sum(len(op["would_change"]) for op in operations)
    return {"dry": True, "operations": operations, "totals": {"would_change": would},
            "failed_hosts": failed}


def _recorded(records: dict[str, dict] | None) -> dict:
    """{"records": ...} when deploys/site.py recorded anything, else nothing."""
    return {"records": records} if records else {}


def _owed(said: dict[str, list[str]]) -> dict:
    """{"owed": {host: its decision's lines}} when a host owed anything, else nothing."""
    owed = {host: [line.removeprefix(OWED) for line in lines if line.startswith(OWED)]
            for host, lines in said.items()}
    owed = {host: lines for host, lines in owed.items() if lines}
    return {"owed": owed} if owed else {}


def _notes(said: dict[str, list[str]]) -> dict:
    """{"notes": {host: its notes}} when a host had any, else nothing."""
    notes = {host: [line.removeprefix(NOTE) for line in lines if line.startswith(NOTE)]
             for host, lines in said.items()}
    notes = {host: lines for host, lines in notes.items() if lines}
    return {"notes": notes} if notes else {}


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
            "failed_hosts": sorted(failed), **_owed(said), **_notes(said)}


def outcomes(results: dict) -> list[HostOutcome]:
    dry = bool(results.get("dry"))
    hosts: dict[str, HostOutcome] = {}

    def of(name: str) -> HostOutcome:
        return hosts.setdefault(name, HostOutcome(name, dry=dry))

    for name in results.get("hosts", []):
        of(name)
    for op in results["operations"]:
        for status, names in ((CHANGED, op["success"]), (UNCHANGED, op["no_change"]),
                              (FAILED, op["error"]), (WOULD_CHANGE, op.get("would_change", []))):
            for name in names:
                of(name).operations.append((op["name"], status))
    for o in hosts.values():
        o.changed = sum(status in (CHANGED, WOULD_CHANGE) for _, status in o.operations)
        o.unchanged = sum(status == UNCHANGED for _, status in o.operations)
        o.failed_operations = [name for name, status in o.operations if status == FAILED]
    for name in results["failed_hosts"]:
        of(name).failed = True
    for name, lines in results.get("owed", {}).items():
        of(name).owed = lines
    for name, lines in results.get("notes", {}).items():
        of(name).notes = lines
    for name, facts in results.get("records", {}).items():
        o = of(name)
        o.decision, o.node = facts.get("decision"), facts.get("node")
        if facts.get("lock_holder"):
            # A dry run adds the lock's failing operation but never runs it: the host is failed
            # all the same, nothing of it was read.
            o.lock_holder, o.failed = facts["lock_holder"], True
    return sorted(hosts.values(), key=lambda o: (not o.failed, o.host))


def summary_text(results: dict) -> str:
    rows = outcomes(results)
    if not rows:  # no results and no failed host in the log: pyinfra stopped on its own error
        return "\n--> Summary: the run stopped before any host's result: see the error above"
    failed = [o.host for o in rows if o.failed]
    if failed:
        head = f"{len(failed)} of {len(rows)} host(s) failed: {', '.join(failed)}"
    elif results.get("dry"):
        changes = [o.host for o in rows if o.changes]
        head = (f"{len(changes)} of {len(rows)} host(s) would change: {', '.join(changes)}"
                if changes else f"nothing would change on {len(rows)} host(s)")
    else:
        head = f"all {len(rows)} host(s) converged"
    title = "Dry run" if results.get("dry") else "Summary"
    return "\n".join(["", f"--> {title}: {head}", *(line for o in rows for line in _lines(o))])


def _lines(o: HostOutcome) -> list[str]:
    """A host's line, then what it owed and (a dry run) each operation that would run."""
    return [f"    {o.line}", *(f"             {OWED}{owed}" for owed in o.owed),
            *(f"             {NOTE}{note}" for note in o.notes),
            *(f"             would run: {name}" for name, status in o.operations
              if status == WOULD_CHANGE)]
