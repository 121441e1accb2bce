"""`aitbc-infra history`: the deploy history of every host of an inventory, newest last.

Each host's log (host_names.DEPLOY_HISTORY, aitbc_infra/history.py) is read with one SSH command,
every host at once, through a Runner (aitbc_infra/remote.py: as pyinfra reaches the host). A line
that is not an entry is skipped and named, never fatal; a host that cannot be read is named and
makes the exit status 1. Everything shown came from the hosts: each value is printed escaped
(`printable`), so a log that was tampered with cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aitbc_infra.errors import UserError
from aitbc_infra.history import ROLLBACK, Entry, parse_log, printable
from aitbc_infra.host_names import DEPLOY_HISTORY
from aitbc_infra.inventory_option import add_inventory_option
from aitbc_infra.json_output import print_document
from aitbc_infra.loader import InventoryError
from aitbc_infra.remote import Runner, connections, runner

VERSION = 1  # of the --json document's shape (schemas/history.json)
LIMIT_MAX = 100000  # rollout.history_lines' own bound: no host keeps more

# Prints the last N lines of the log (all with N = 0), each as NUMBER<TAB>LINE: its number in
# the log, however many lines precede it. One pass; a log not there yet prints nothing.
_NUMBERED = ('n == 0 { print NR "\\t" $0; next } { l[NR % n] = $0 } '
             'END { if (n) for (i = (NR > n ? NR - n + 1 : 1); i <= NR; i++) print i "\\t" l[i % n] }')


def read_command(limit: int | None, log: str = DEPLOY_HISTORY) -> str:
    """The one command that reads a host's log: its last `limit` lines, or all of them."""
    q = shlex.quote
    return f"[ ! -e {q(log)} ] || awk -v n={int(limit or 0)} {q(_NUMBERED)} {q(log)}"


@dataclass
class Gathered:
    entries: list[Entry] = field(default_factory=list)  # oldest first
    skipped: list[str] = field(default_factory=list)  # each line that is not an entry, named
    unreadable: dict[str, str] = field(default_factory=dict)  # node -> why


def gather(nodes: list[str], run: Runner, limit: int | None = None) -> Gathered:
    """Every host's log read at once through `run`: the entries by time (the `limit` newest
    of all hosts)."""
    command = read_command(limit)

    def read(node: str):
        return node, run(node, command)

    found = Gathered()
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        for node, done in pool.map(read, nodes):
            if done.returncode != 0:
                said = (done.stderr or "").strip().splitlines()
                found.unreadable[node] = printable(said[-1] if said else
                                                   f"exit status {done.returncode}")
                continue
            entries, problems = parse_log(node, done.stdout)
            found.entries += entries
            found.skipped += problems
    found.entries.sort(key=lambda e: (e.time, e.host, e.line))
    if limit:
        found.entries = found.entries[-limit:]
    return found


# The table -------------------------------------------------------------------------------------


def _short(release: str | None) -> str:
    return "none" if release is None else printable(release)[:12]


_ACTIONS = {"restart": "restart {}", "socket": "restart {}.socket and {}", "start": "start {}"}
# A role or database (kind, name, action) as the decision words it.
_DATABASE_ACTIONS = {"create": "create {} {}", "set": "set {} {}", "owner": "give {} {} its owner"}


def changed(data: dict) -> list[str]:
    """What an entry changed, one item a line: releases, PostgreSQL roles and databases, unit
    actions, reloads, loads, release steps and certificates (their reasons are in --json);
    "nothing changed" for a run that owed nothing.
    The entry has the shape of schemas/history.json (`parse_log` held it to it); a key a line
    cut to fit left out counts as none."""
    changes = data["changes"]
    # A rollback's release change says so: it went back to a kept release, built nothing.
    verb = "rollback " if data.get("kind") == ROLLBACK else ""
    items = [f"{verb}{printable(app)} {_short(r.get('before'))} -> {_short(r.get('after'))}"
             for app, r in changes.get("releases", {}).items()]
    items += [_DATABASE_ACTIONS.get(r.get("action"), "{} {} {}").format(
        printable(r.get("kind", "?")), printable(r.get("name", "?")), printable(r.get("action", "?")))
        for r in changes.get("databases", [])]
    for r in changes.get("restarts", []):
        unit = printable(r.get("unit", "?"))
        items.append(_ACTIONS.get(r.get("action"), "restart {}").format(unit, unit))
    items += [f"reload {printable(r.get('journal', '?'))}" for r in changes.get("reloads", [])]
    items += [f"load the units of {printable(r.get('app', '?'))}" for r in changes.get("loads", [])]
    items += [f"run step {printable(r.get('step', '?'))} of {printable(r.get('app', '?'))}"
              for r in changes.get("steps", [])]
    items += [f"issue certificate {printable(r.get('lineage', '?'))}"
              for r in changes.get("certificates", [])]
    operations = changes.get("operations", 0)
    if not items and operations:
        items.append(f"{operations} operation(s) changed the host")
    if changes.get("truncated"):
        items.append("(details cut to fit the line)")
    return items or ["nothing changed"]


def _commit(data: dict) -> str:
    commits = data["commits"]
    sources = commits.get("sources")
    return printable(commits["project"] + (f" src {sources}" if sources else ""))


def _result(data: dict) -> str:
    step = data.get("step")
    word = {"failed": "FAILED at", "interrupted": "interrupted before"}.get(data["result"], "")
    return printable(f"{word} {step}" if word and step else data["result"])


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


COLUMNS = (("TIME", 20), ("HOST", 16), ("OPERATOR", 24), ("COMMIT", 30), ("MESSAGE", 40),
           ("CHANGED", 80))


def table(entries: list[Entry]) -> str:
    """One row per entry, newest last; an entry that changed several things continues on the
    lines below, in the CHANGED column. RESULT last, whole."""
    rows = [([printable(e.time), printable(e.host), printable(e.data["operator"]), _commit(e.data),
              printable(e.data["message"] or "-")], changed(e.data), _result(e.data))
            for e in entries]
    longest = [max((len(cells[i]) for cells, _, _ in rows), default=0) for i in range(5)]
    longest.append(max((len(item) for _, items, _ in rows for item in items), default=0))
    widths = [min(cap, max(len(title), n)) for (title, cap), n in zip(COLUMNS, longest, strict=True)]
    lines = ["  ".join(t.ljust(w) for (t, _), w in zip(COLUMNS, widths, strict=True)) + "  RESULT"]
    indent = " " * sum(w + 2 for w in widths[:5])
    for cells, (first, *more), result in rows:
        lines.append("  ".join(_cut(c, w).ljust(w) for c, w in zip([*cells, first], widths,
                                                                   strict=True)) + "  " + result)
        lines += [indent + _cut(item, widths[5]) for item in more]
    return "\n".join(line.rstrip() for line in lines)


# The document ------------------------------------------------------------------------------------


def document(found: Gathered, inventory: str) -> dict:
    return {"version": VERSION, "command": "history", "inventory": inventory,
            "exit_code": 1 if found.unreadable else 0,
            "entries": [e.document() for e in found.entries],
            "skipped": found.skipped, "unreadable": found.unreadable}


# The command -------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= LIMIT_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {LIMIT_MAX}")
    return value


def hosts_and_runner(inventory: Path) -> tuple[list[str], Runner]:
    """The inventory's hosts (by node name) and how to run a command on each."""
    try:
        argvs = connections(inventory)
    except InventoryError as exc:
        raise UserError(f"{inventory}: {exc}") from None
    return list(argvs), runner(argvs)


def cmd_history(args: argparse.Namespace,
                connect: Callable[[Path], tuple[list[str], Runner]] | None = None) -> int:
    nodes, run = (connect or hosts_and_runner)(args.inventory)
    if args.host is not None:
        if args.host not in nodes:
            raise UserError(f"--host {args.host!r}: not a host of {args.inventory} "
                            f"(its hosts: {', '.join(nodes)})")
        nodes = [args.host]
    found = gather(nodes, run, args.limit)
    for problem in found.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    for node, why in found.unreadable.items():
        print(f"aitbc-infra history: {node}: cannot read its history: {why}", file=sys.stderr)
    if args.json:
        report = document(found, str(args.inventory))
        print_document(report)
        return report["exit_code"]
    print(table(found.entries) if found.entries else
          f"no deploy recorded on {', '.join(n for n in nodes if n not in found.unreadable) or 'any host'}")
    return 1 if found.unreadable else 0


def register_history(sub: argparse._SubParsersAction) -> None:
    history = sub.add_parser(
        "history", help="what each deploy and rollback did on each host, newest last",
        description="Read each host's deploy history (one SSH command per host, all hosts at "
        f"once; {DEPLOY_HISTORY}): for every deploy run that was not --dry and every rollback "
        "(`aitbc-infra rollback`, its releases shown as 'rollback APP BEFORE -> AFTER'), its time (UTC), "
        "host, operator, the commits of this project and of the app sources, its --message, "
        "what changed (releases before and after, units restarted or started, reloads) and its "
        "result (ok, failed at an operation, interrupted). A line that is not an entry is "
        "skipped and named on stderr. Exit status: 0 every host read; 1 a host could not be "
        "read (named); 2 bad input. With --json: one JSON document on stdout "
        "(schemas/history.json), with each change's reasons.")
    add_inventory_option(history)
    history.add_argument("--host", help="only this host (its name in the inventory)")
    history.add_argument("--limit", type=_positive, metavar="N",
                         help="only the N newest runs (of all hosts read)")
    history.add_argument("--json", action="store_true",
                         help="print one JSON document on stdout: every entry as the host "
                         "keeps it, the lines skipped, the hosts that could not be read")
    history.set_defaults(func=cmd_history)
