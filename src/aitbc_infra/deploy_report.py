"""What `aitbc-infra deploy` answers a machine: its exit status and, with --json, one document
(schemas/deploy.json) built from the run's per-host outcomes (aitbc_infra/summary.py); for a
run site by site (`deploy --serial`), what each site came to.

The exit status lets CI gate on drift: a dry run exits DRIFT when anything would change on any
host (an operation would run, or the decision owes a restart, reload, load or certificate),
OK when nothing would; any failed host, or a run that stopped before any host's result, is
FAILED, whatever else the run found. Bad input never gets this far (exit 2 from the CLI).
A serial run is judged site by site the same way: one site FAILED is the run's FAILED (and
the end of it: the later sites are not attempted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aitbc_infra.summary import HostOutcome

OK, FAILED, DRIFT = 0, 1, 3
VERSION = 1  # of the document's shape: bumped when a field changes meaning or goes away

# What a run came to, on the whole, per site and per host.
CONVERGED, NO_CHANGES, CHANGES, STOPPED = "converged", "no_changes", "changes", "failed"
NOT_ATTEMPTED = "not_attempted"  # a site after the one that failed: never connected to


def exit_status(returncode: int, rows: list[HostOutcome], dry: bool) -> int:
    """OK, FAILED or DRIFT (a dry run only) for pyinfra's exit status and the hosts' outcomes."""
    if returncode != 0 or not rows or any(o.failed for o in rows):
        return FAILED
    return DRIFT if dry and any(o.changes for o in rows) else OK


def _result(status: int, dry: bool) -> str:
    return (STOPPED if status == FAILED else CHANGES if status == DRIFT
            else NO_CHANGES if dry else CONVERGED)


# Site by site ------------------------------------------------------------------------------


@dataclass
class SiteRun:
    """One site of a serial run: its hosts ({pyinfra's name: node}, in inventory order) and,
    once its own pyinfra run ended, that run's exit status and its hosts' outcomes."""

    site: str
    hosts: dict[str, str]
    returncode: int | None = None  # None: not attempted
    rows: list[HostOutcome] = field(default_factory=list)

    @property
    def attempted(self) -> bool:
        return self.returncode is not None

    def status(self, dry: bool) -> int | None:
        """The site's exit status, as a whole run's (None: not attempted)."""
        return exit_status(self.returncode, self.rows, dry) if self.attempted else None

    def result(self, dry: bool) -> str:
        status = self.status(dry)
        return NOT_ATTEMPTED if status is None else _result(status, dry)


def serial_status(sites: list[SiteRun], dry: bool) -> int:
    """FAILED when a site failed (or none ran), else DRIFT when a dry run found changes, else OK."""
    statuses = [s.status(dry) for s in sites if s.attempted]
    if not statuses or FAILED in statuses:
        return FAILED
    return DRIFT if DRIFT in statuses else OK


def serial_summary(sites: list[SiteRun], dry: bool) -> str:
    """The end of a serial run: the run's head line, then one line per site, in order."""
    results = {s.site: s.result(dry) for s in sites}
    failed = [site for site, r in results.items() if r == STOPPED]
    skipped = [site for site, r in results.items() if r == NOT_ATTEMPTED]
    if failed:
        head = f"stopped at site {failed[0]}, which failed" + (
            f"; not attempted: {', '.join(skipped)}" if skipped else "")
    elif dry:
        changes = [site for site, r in results.items() if r == CHANGES]
        head = (f"{len(changes)} of {len(sites)} site(s) would change: {', '.join(changes)}"
                if changes else f"nothing would change on {len(sites)} site(s)")
    else:
        head = f"all {len(sites)} site(s) converged, one after the other"
    shown = {STOPPED: "FAILED", NOT_ATTEMPTED: "not attempted", NO_CHANGES: "no changes"}
    lines = [f"    {shown.get(results[s.site], results[s.site]):<14} {s.site:<12} "
             f"{', '.join(s.hosts)}" for s in sites]
    return "\n".join(["", f"--> Site by site: {head}", *lines])


def _site_document(site: SiteRun, dry: bool) -> dict:
    return {"site": site.site, "hosts": list(site.hosts), "result": site.result(dry)}


def _not_attempted(node: str) -> dict:
    return {"node": node, "result": NOT_ATTEMPTED, "failure": None, "changed": 0,
            "unchanged": 0, "failed": 0, "operations": [], "decision": None}


# The document --------------------------------------------------------------------------------


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


def document(rows: list[HostOutcome], *, dry: bool, returncode: int, inventory: str,
             sites: list[SiteRun] | None = None) -> dict:
    """The run's document. For a serial run, `sites` (every site, in order) is the run: `rows`
    and `returncode` are not read; its hosts are every attempted site's, and those of each
    site not attempted with the result "not_attempted"."""
    if sites is not None:
        rows = [o for s in sites for o in s.rows]
        status = serial_status(sites, dry)
    else:
        status = exit_status(returncode, rows, dry)
    error = None
    if sites is not None:
        failed = next((s for s in sites if s.status(dry) == FAILED), None)
        if failed is not None and not any(o.failed for o in failed.rows):
            error = (f"site {failed.site}: the run stopped before any host's result: see the log"
                     if not failed.rows else
                     f"site {failed.site}: pyinfra exited {failed.returncode}: see the log")
    elif not rows:
        error = "the run stopped before any host's result: see the log"
    elif status == FAILED and not any(o.failed for o in rows):
        error = f"pyinfra exited {returncode}: see the log"
    hosts = {o.host: host_document(o) for o in rows}
    for site in sites or []:
        if not site.attempted:
            hosts.update({name: _not_attempted(node) for name, node in site.hosts.items()})
    return {
        "version": VERSION,
        "command": "deploy",
        "dry": dry,
        "inventory": inventory,
        "exit_code": status,
        "result": _result(status, dry),
        "changes": any(o.changes for o in rows),
        "error": error,
        "sites": None if sites is None else [_site_document(s, dry) for s in sites],
        "hosts": dict(sorted(hosts.items())),
    }
