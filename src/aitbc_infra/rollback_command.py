"""`aitbc-infra rollback APP... | --all`: each app back on a release its hosts keep, building
nothing, every host at once.

The inventory is validated and the arguments checked first (bad input: exit 2, nothing
connected). Then two round trips per host, all hosts at once (as the deploy converges them:
each host has its own candidates, gate and roll back, and a rollback is wanted fast):
1. status.sh reads the apps' releases (aitbc_infra/status.py `read`); the targets are chosen
   (aitbc_infra/rollback.py), and any refusal on any host stops the command before a change:
   exit 2.
2. One OpenSSH session per host (as `history` and `status` reach it: aitbc_infra/remote.py)
   runs the deploy lock's command (aitbc_infra/deploy_lock.py): a lock another deploy or
   rollback holds fails that host, naming its holder, as a deploy does; under it, rollback.sh
   for each app; then the host's history line is sent back on the session's input and
   appended as the lock is let go (deploys/scripts/history-add.sh).
Exit 0 every host rolled back; 1 a host failed (its gate: it put its release back itself;
a held lock; no answer); 2 bad input. Every value a host prints is escaped before a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy_lock import BUSY, READ_END
from aitbc_infra.errors import UserError
from aitbc_infra.fleet import Fleet
from aitbc_infra.history import (
    MESSAGE_MAX,
    OPERATOR_ENV,
    Run,
    check_text,
    describe_holder,
    operator,
    printable,
    source_commit,
)
from aitbc_infra.host_names import DEPLOY_LOCK
from aitbc_infra.inventory_option import add_inventory_option, load_or_explain
from aitbc_infra.json_output import print_document
from aitbc_infra.loader import InventoryError
from aitbc_infra.remote import SSH_FAILED, connections, runner
from aitbc_infra.rollback import (
    APP_END,
    DONE,
    REFUSED,
    HostRollback,
    app_statuses,
    asked,
    chosen,
    history_line,
    locked_command,
    release_name,
    targets,
)
from aitbc_infra.status import read

VERSION = 1  # of the --json document's shape (schemas/rollback.json)
READ_TIMEOUT = 20  # seconds for the first read of a host (as `status` waits)
# A host's whole session: each app's candidate and gate wait at most the health timeout, a
# failed gate as long again to come back; a session past this is ended, the host failed.
SESSION_TIMEOUT = 900
CONFIRM_TIMEOUT = 30  # seconds for the lock's command to append the line and let go

Argv = list[str] | None  # the ssh command line before a host's command; None: this machine


@dataclass
class HostResult:
    node: str
    rollback: HostRollback | None = None
    statuses: list[int | None] = field(default_factory=list)  # each app's rollback.sh status
    failure: str | None = None  # why the host failed, in a line
    lock_holder: str | None = None
    output: list[str] = field(default_factory=list)  # what the host printed, escaped
    seconds: float | None = None
    history: str | None = None  # the history line could not be appended: why

    @property
    def ok(self) -> bool:
        return self.failure is None


# The session under the lock -----------------------------------------------------------------------


def session(argv: Argv, command: str, say: Callable[[str], None],
            line_for: Callable[[list[str], float], str | None],
            timeout: float = SESSION_TIMEOUT) -> tuple[str, list[str], str | None]:
    """Run the deploy lock's `command` on a host through `argv` (None: here) and talk to it:
    each line its part under the lock prints goes to `say`; once that part ended, `line_for`
    (its output, the seconds since the lock) gives the history line to send, or None; the
    input is closed and the lock let go. Returns ("locked", output, problem), ("held",
    [holder], None) or ("failed", [why], None)."""
    full = ["sh", "-c", command] if argv is None else [*argv, command]
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errors, text=True, errors="replace")
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            return _talk(proc, errors, say, line_for, timeout)
        finally:
            timer.cancel()
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=CONFIRM_TIMEOUT)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _talk(proc: subprocess.Popen, errors, say, line_for, timeout: float):
    first = proc.stdout.readline()
    if first.strip() != "locked":
        rest = proc.stdout.read()
        status = proc.wait()
        if status == BUSY:
            return "held", [(first + rest).strip()], None
        errors.seek(0)
        said = errors.read().strip().splitlines()
        why = said[-1] if said else first.strip() or f"exit status {status}"
        if status == SSH_FAILED:
            why = f"could not connect: {why}"
        return "failed", [printable(why)], None
    locked, output = time.monotonic(), []
    for raw in proc.stdout:
        line = raw.removesuffix("\n")
        if line.startswith(READ_END):
            break
        output.append(line)
        say(line)
    else:  # the session ended before the part under the lock said it had
        proc.wait()
        return "failed", [f"the session ended before the rollback did (killed after {timeout} s, "
                          "or the connection lost)"], None
    line = line_for(output, time.monotonic() - locked)
    problem = None
    try:
        if line is not None:
            proc.stdin.write(line + "\n")
        proc.stdin.close()
        status = proc.wait(timeout=CONFIRM_TIMEOUT)
        if status != 0:
            errors.seek(0)
            said = errors.read().strip().splitlines()
            problem = printable(f"exit status {status}" + (f": {said[-1]}" if said else ""))
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    return "locked", output, problem


# The command ----------------------------------------------------------------------------------------


class Printer:
    """Lines from several hosts at once, each whole, each with its host."""

    def __init__(self, out) -> None:
        self._out, self._lock = out, threading.Lock()

    def __call__(self, node: str, line: str) -> None:
        with self._lock:
            print(f"    [{node}] {printable(line)}", file=self._out, flush=True)


def roll_back(fleet: Fleet, argvs: dict[str, Argv], rollback: HostRollback, run: Run,
              commits: dict, restore: bool, say: Printer) -> HostResult:
    """One host's rollback under its lock, as `session` talks to it."""
    result = HostResult(rollback.node, rollback)
    count = len(rollback.apps)

    def line_for(output: list[str], seconds: float) -> str | None:
        result.seconds = round(seconds, 1)
        statuses = app_statuses(output, count)
        return history_line(fleet, rollback, statuses, run, commits, seconds, restore)

    def shown(line: str) -> None:
        if not line.startswith(APP_END):
            say(rollback.node, line)

    kind, output, problem = session(argvs[rollback.node],
                                    locked_command(fleet, rollback, restore, run), shown, line_for)
    if kind == "held":
        result.lock_holder = describe_holder(output[0])
        result.failure = f"the deploy lock is held by {result.lock_holder}"
        say(rollback.node, f"{DEPLOY_LOCK} held by {result.lock_holder}: nothing done here")
        return result
    if kind == "failed":
        result.failure = output[0]
        return result
    result.output = [printable(line) for line in output if not line.startswith(APP_END)]
    result.statuses = app_statuses(output, count)
    result.history = problem
    bad = next(((r, s) for r, s in zip(rollback.apps, result.statuses, strict=True)
                if s != DONE), None)
    if bad:
        app, status = bad
        result.failure = (f"{app.app}: refused, the host changed since it was read (see above)"
                          if status == REFUSED else
                          f"{app.app}: not rolled back to {app.to}, still on "
                          f"{app.from_release} (see above)" if status is not None else
                          f"{app.app}: the rollback ended without a word (see above)")
    return result


def _app_result(status: int | None) -> str:
    return {DONE: "ok", REFUSED: "refused", None: "not run"}.get(status, "failed")


def summary(results: list[HostResult]) -> str:
    failed = [r.node for r in results if not r.ok]
    head = (f"{len(failed)} of {len(results)} host(s) failed: {', '.join(failed)}" if failed
            else f"all {len(results)} host(s) rolled back")
    lines = ["", f"--> Rollback: {head}"]
    for r in results:
        apps = r.rollback.apps if r.rollback else ()
        said = ", ".join(f"{a.app} {a.from_release} -> {a.to}" for a in apps)
        said += "".join(f", {app} already on the release asked for"
                        for app in (r.rollback.already if r.rollback else ()))
        took = f" ({r.seconds} s)" if r.seconds is not None else ""
        lines.append(f"    ok       {r.node:<12} {said or 'nothing to do'}{took}" if r.ok else
                     f"    FAILED   {r.node:<12} {r.failure}")
        if r.history:
            lines.append(f"             history line not written: {r.history}")
    return "\n".join(lines)


def document(results: list[HostResult], inventory: str, to: str | None, restore: bool) -> dict:
    return {
        "version": VERSION, "command": "rollback", "inventory": inventory,
        "exit_code": 0 if all(r.ok for r in results) else 1,
        "to": to, "restore_data": restore,
        "hosts": {r.node: {
            "result": "ok" if r.ok else "failed",
            "failure": r.failure, "lock_holder": r.lock_holder, "seconds": r.seconds,
            "apps": [{"app": a.app, "from": a.from_release, "to": a.to,
                      "result": _app_result(s)}
                     for a, s in zip(r.rollback.apps if r.rollback else (),
                                     r.statuses or [None] * len(r.rollback.apps if r.rollback
                                                                else ()), strict=True)],
            "already": list(r.rollback.already) if r.rollback else [],
            "output": r.output, "history_problem": r.history,
        } for r in results},
    }


def connect(inventory: Path) -> dict[str, Argv]:
    """How each host of the inventory is reached (by node name)."""
    try:
        return connections(inventory)
    except InventoryError as exc:
        raise UserError(f"{inventory}: {exc}") from None


def cmd_rollback(args: argparse.Namespace,
                 reach: Callable[[Path], dict[str, Argv]] | None = None) -> int:
    # Bad input stops here, before any connection.
    if bool(args.apps) == bool(args.all):
        raise UserError("name the apps to roll back, or --all (not both)")
    to = release_name(args.to) if args.to is not None else None
    if to is not None and (args.all or len(args.apps) > 1):
        raise UserError("--to names one release: give one app with it")
    message = check_text("--message", args.message, MESSAGE_MAX)
    operator()  # AITBC_OPERATOR checked before anything connects
    run = Run.now(message)
    fleet = load_or_explain(args.inventory)
    wanted = chosen(fleet, args.apps, args.all, args.host)
    argvs = (reach or connect)(args.inventory)
    out = sys.stderr if args.json else sys.stdout
    say = Printer(out)

    # 1. What each host keeps, every host at once; every refusal before any change.
    read_runner = runner(argvs, timeout=READ_TIMEOUT)
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        read_back = dict(zip(wanted, pool.map(
            lambda node: read(node, asked(fleet.hosts[node], wanted[node]), read_runner),
            wanted), strict=True))
    plans = {r.node: r for r in targets(wanted, read_back, to, run)}  # UserError: exit 2
    results = [HostResult(node, failure=f"could not be read: {s.error}")
               for node, s in read_back.items() if s.error]
    for result in results:
        say(result.node, result.failure)

    # 2. Under each host's lock, every host at once.
    commits = {"project": source_commit(PROJECT_ROOT), "sources": None}
    for plan in plans.values():
        for app in plan.apps:
            say(plan.node, f"{app.app}: {app.from_release} -> kept release {app.to}"
                + (" (restoring its data first: the app is down meanwhile)" if args.restore_data
                   else ""))
        for app in plan.already:
            say(plan.node, f"{app}: already on release {to}, nothing to do")
    acting = [p for p in plans.values() if p.apps]
    results += [HostResult(p.node, p) for p in plans.values() if not p.apps]
    if acting:
        with ThreadPoolExecutor(max_workers=len(acting)) as pool:
            results += list(pool.map(lambda p: roll_back(fleet, argvs, p, run, commits,
                                                         args.restore_data, say), acting))
    results.sort(key=lambda r: list(fleet.hosts).index(r.node))
    print(summary(results), file=out, flush=True)
    if args.json:
        report = document(results, str(args.inventory), to, args.restore_data)
        print_document(report)
        return report["exit_code"]
    return 0 if all(r.ok for r in results) else 1


def register_rollback(sub: argparse._SubParsersAction) -> None:
    rollback = sub.add_parser(
        "rollback", help="put apps back on a release their hosts keep, building nothing",
        description="Put each app named (or --all) back on a release its hosts keep, on every "
        "host running it (or --host), all hosts at once, building nothing: by default the most "
        "recently activated release kept before the live one, or --to RELEASE (`aitbc-infra "
        "status` lists the releases kept). Under the same per-host lock as a deploy (a held "
        "lock fails that host, naming its holder), through the deploy's own activation: the "
        "release proven as a candidate beside the running one, the cutover, the health gate; "
        "a failed gate puts the previous release back by itself. Every unit of the app is "
        "restarted (a scheduled job's timer is not: its job takes the release at its next "
        "run); no unit or env file changes, and no release step runs (a rollback migrates "
        "nothing: over a migration, --restore-data). A release that is not kept, or not "
        "whole, is "
        "refused naming host, app and release and listing what is kept, before anything "
        "changes on any host. Each host records it (`aitbc-infra status` shows it, "
        "`aitbc-infra history` lists it); the next deploy reports the drift from the data and "
        "puts the data's release back, unless `deploy --keep-rollbacks`. Exit status: 0 every "
        "host rolled back; 1 a host failed (named); 2 bad input (nothing changed). With "
        "--json: one JSON document on stdout (schemas/rollback.json), every other line on "
        "stderr.")
    rollback.add_argument("apps", nargs="*", metavar="APP", help="an app of the inventory")
    rollback.add_argument("--all", action="store_true", help="every app of every host (or of "
                          "--host)")
    add_inventory_option(rollback)
    rollback.add_argument("--host", help="only this host (its name in the inventory)")
    rollback.add_argument("--to", metavar="RELEASE", help="the kept release to go back to "
                          "(one app); default: the most recently activated before the live one")
    rollback.add_argument("--restore-data", action="store_true",
                          help="also put back the data snapshot kept with that release: the "
                          "app's units are stopped (an OUTAGE of the app until its gate "
                          "passes), the snapshot restored (what writes it drops is printed "
                          "first), then the release activated. A release with no snapshot "
                          "kept fails, the app started again as it was. The way back over a "
                          "release step that changed the data (a migration): no step runs on "
                          "a rollback")
    rollback.add_argument("--message", "-m", metavar="TEXT",
                          help="why: kept in each host's history and its rollback record, "
                          f"and named to a deploy that finds the lock held (one line, at most "
                          f"{MESSAGE_MAX} characters). The operator is ${OPERATOR_ENV}, else "
                          "USER@HOSTNAME")
    rollback.add_argument("--json", action="store_true",
                          help="print one JSON document on stdout: per host each app's "
                          "releases before and after and its result, what the host printed")
    rollback.set_defaults(func=cmd_rollback)
