"""What `aitbc-infra deploy` answers a machine: its exit status and, with --json, one document
(schemas/deploy.json) built from the run's per-host outcomes (aitbc_infra/summary.py).

The exit status lets CI gate on drift: a dry run exits DRIFT when anything would change on any
host (an operation would run, or the decision owes a restart, reload, load or certificate),
OK when nothing would; any failed host, or a run that stopped before any host's result, is
FAILED, whatever else the run found. Bad input never gets this far (exit 2 from the CLI).
"""

from __future__ import annotations

from aitbc_infra.summary import HostOutcome

OK, FAILED, DRIFT = 0, 1, 3
VERSION = 1  # of the document's shape: bumped when a field changes meaning or goes away

# What a run came to, on the whole and per host.
CONVERGED, NO_CHANGES, CHANGES, STOPPED = "converged", "no_changes", "changes", "failed"


def exit_status(returncode: int, rows: list[HostOutcome], dry: bool) -> int:
    """OK, FAILED or DRIFT (a dry run only) for pyinfra's exit status and the hosts' outcomes."""
    if returncode != 0 or not rows or any(o.failed for o in rows):
        return FAILED
    return DRIFT if dry and any(o.changes for o in rows) else OK


def host_result(o: HostOutcome) -> str:
    if o.failed:
        return STOPPED
    if o.dry:
        return CHANGES if o.changes else NO_CHANGES
    return CONVERGED


def host_document(o: HostOutcome) -> dict:
    return {
        "node": o.node,
        "result": host_result(o),
        "failure": o.why if o.failed else None,
        "changed": o.changed,  # operations that changed the host (a dry run: that would)
        "unchanged": o.unchanged,
        "failed": len(o.failed_operations),
        "operations": [{"name": name, "status": status} for name, status in o.operations],
        # None when the host never got as far as its decision (no connection, a held lock).
        "decision": o.decision,
    }


def document(rows: list[HostOutcome], *, dry: bool, returncode: int, inventory: str) -> dict:
    status = exit_status(returncode, rows, dry)
    result = (STOPPED if status == FAILED else CHANGES if status == DRIFT
              else NO_CHANGES if dry else CONVERGED)
    error = None
    if not rows:
        error = "the run stopped before any host's result: see the log"
    elif status == FAILED and not any(o.failed for o in rows):
        error = f"pyinfra exited {returncode}: see the log"
    return {
        "version": VERSION,
        "command": "deploy",
        "dry": dry,
        "inventory": inventory,
        "exit_code": status,
        "result": result,
        "changes": any(o.changes for o in rows),
        "error": error,
        "hosts": {o.host: host_document(o) for o in sorted(rows, key=lambda o: o.host)},
    }

