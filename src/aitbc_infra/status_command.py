"""`aitbc-infra status`: what each host of an inventory runs right now and what to look at.

The inventory is validated first (bad input exits 2 before any connection); then every host is
read at once, one SSH command each (aitbc_infra/status.py). A table per host, or one JSON
document (schemas/status.json). Exit 0 nothing to look at; 1 something, each named as
host: what: why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from aitbc_infra.errors import UserError
from aitbc_infra.history import printable
from aitbc_infra.inventory_option import add_inventory_option, load_or_explain
from aitbc_infra.json_output import print_document
from aitbc_infra.loader import InventoryError
from aitbc_infra.remote import Runner, connections, runner
from aitbc_infra.status import (
    CERT_WARN_DAYS,
    HostStatus,
    Problem,
    document,
    exit_code,
    gather,
    problems,
    rolled_back,
)

# A healthy host answers in well under a second; one that hangs must not hold the others' report.
TIMEOUT_SECONDS = 20


def _size(kib: int | None) -> str:
    if kib is None:
        return "?"
    return f"{kib / 1024:.0f} MiB" if kib >= 1024 else f"{kib} KiB"


def host_table(status: HostStatus, found: list[Problem]) -> str:
    """One host: a line per app, unit, certificate, chain node, the firewall and the last
    deploy, then its problems. Every value read from the host is escaped."""
    p = printable
    lines = [f"== {p(status.node)}"]
    if status.error:
        return "\n".join([*lines, *(f"  PROBLEM  {x.what}: {x.why}" for x in found)])
    rows = []
    for app in status.apps:
        total = sum(r.kib or 0 for r in app.releases)
        rows.append(("app", app.name, f"live {p(app.live or app.link or 'none')}, "
                     f"{len(app.releases)} kept, {_size(total)}"
                     + (f"; {p(rolled_back(app.rollback))}" if app.rollback else "")))
        # Each kept release, the most recently activated first: what `rollback --to` takes.
        rows += [("", f"  {p(r.name)}", f"{'live' if r.name == app.live else 'kept'}, "
                  f"activated {p((r.activated or '?')[:19])}, {_size(r.kib)}"
                  + ("" if r.complete else ", unfinished build")) for r in app.by_activation()]
    for unit in status.units:
        rows.append(("unit", unit.unit, p(f"{unit.active or '?'} ({unit.sub or '?'}), "
                                          f"{unit.enabled or '?'}")))
    for cert in status.certificates:
        rows.append(("cert", cert.lineage, f"until {cert.not_after}, {cert.days_left} days"
                     if cert.not_after else "none"))
    for head in status.chain:
        rows.append(("chain", head.unit, f"{head.chain_id} height {head.height}, lag {head.lag}"
                     if head.height is not None else f"{head.chain_id} no head"))
        for view in head.peers or []:
            rows.append(("sync", head.unit, p(f"saw {view.url} at {view.seen}, its head "
                                              f"{view.head if view.head is not None else '?'}")))
    if status.firewall:
        fw = status.firewall
        rows.append(("firewall", "firehol", ("rendered rules" if fw.rendered else "NOT the "
                     "rendered rules") + ", live " + ("as applied" if fw.live_as_applied
                                                      else "NOT as applied")
                     + (f", revert armed until {fw.revert_armed_until}"
                        if fw.revert_armed_until else "")
                     + (f", reverted at {p(fw.reverted_at)}" if fw.reverted_at else "")))
    last = status.last_deploy
    rows.append(("deploy", "last", p(f"{last.get('kind', 'deploy')} {last['result']} at "
                                     f"{last['time']} by {last['operator']}"
                                     + (f": {last['message']}" if last.get("message") else ""))
                 if last else "none recorded"))
    width = max(len(name) for _, name, _ in rows)
    lines += [f"  {what:<9}{name:<{width}}  {state}" for what, name, state in rows]
    lines += [f"  PROBLEM  {x.what}: {x.why}" for x in found]
    return "\n".join(lines)


def hosts_and_runner(inventory: Path) -> Runner:
    """How to run a command on each host of the inventory, by node name."""
    try:
        return runner(connections(inventory), timeout=TIMEOUT_SECONDS)
    except InventoryError as exc:
        raise UserError(f"{inventory}: {exc}") from None


def cmd_status(args: argparse.Namespace, connect: Callable[[Path], Runner] | None = None) -> int:
    fleet = load_or_explain(args.inventory)  # bad input stops here, before any connection
    nodes = list(fleet.hosts)
    if args.host is not None:
        if args.host not in nodes:
            raise UserError(f"--host {args.host!r}: not a host of {args.inventory} "
                            f"(its hosts: {', '.join(nodes)})")
        nodes = [args.host]
    run = (connect or hosts_and_runner)(args.inventory)
    statuses = gather(fleet, run, nodes)
    found = {s.node: problems(s) for s in statuses}
    every = [x for s in statuses for x in found[s.node]]
    if args.json:
        print_document(document(statuses, every, str(args.inventory)))
        return exit_code(every)
    print("\n\n".join(host_table(s, found[s.node]) for s in statuses))
    print(f"\n{len(every)} problem(s) on {len({x.host for x in every})} host(s)" if every
          else f"\nall {len(statuses)} host(s) healthy")
    for x in every:
        print(f"aitbc-infra status: {x}", file=sys.stderr)
    return exit_code(every)


def register_status(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status", help="what each host runs now, and what to look at",
        description="Read every host at once (one SSH command each): per app its live release, "
        "the releases kept (the most recently activated first) and their disk use, whether "
        "`aitbc-infra rollback` put the live release back (to what, by whom, when, and the "
        "data's release: named as a problem until a deploy puts that back), leftover "
        "candidate units; every declared unit's "
        "state (a scheduled job's timer); each TLS site's certificate expiry (named under "
        f"{CERT_WARN_DAYS} days); each chain node's head height and its lag behind the highest "
        "of its chain, and for a node following its peers (sync_status) what it saw of each "
        "against that peer's head (named past three sync intervals' blocks); whether "
        "firehol.conf is the rendered one and the live rules those the deploy applied, and "
        "whether a revert of unconfirmed rules is armed (until when) or ran (when); the "
        "last deploy's result. Exit status: 0 healthy; 1 something to look "
        "at, each named as host: what: why; 2 bad input (nothing connected). With --json: one "
        "JSON document on stdout (schemas/status.json).")
    add_inventory_option(status)
    status.add_argument("--host", help="only this host (its name in the inventory)")
    status.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout: every host's state and the "
                        "problems found")
    status.set_defaults(func=cmd_status)
