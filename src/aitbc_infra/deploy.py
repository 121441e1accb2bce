"""`aitbc-infra deploy`: pyinfra's run of deploys/site.py over an inventory, ending with one line
per host (converged, or what failed; a dry run: whether anything would change), an exit status
CI can gate on, and with --json one document for a machine (aitbc_infra/deploy_report.py).

`--serial` runs it site by site (`Fleet.sites`, in the inventory's order): one pyinfra run per
site, limited to the site's hosts with `--limit`. pyinfra still loads the whole inventory (its
limit only decides whom it connects to), so the model, every cross-site fact (a peer site's
URL, a forward's source address) and every rendered file are those of a run of every host; what
a run builds on this machine once (the wheelhouse, the SPAs) is cached by content and reused by
the next site's run. The first site that fails ends the run: no later site is connected to.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.decision import KEEP_ROLLBACKS_ENV
from aitbc_infra.deploy_report import (
    FAILED,
    SiteRun,
    document,
    exit_status,
    serial_status,
    serial_summary,
)
from aitbc_infra.errors import UserError
from aitbc_infra.fleet import Fleet
from aitbc_infra.history import MESSAGE_ENV, MESSAGE_MAX, OPERATOR_ENV, operator, run_message
from aitbc_infra.inventory_option import add_inventory_option, load_with_sources
from aitbc_infra.json_output import logs_to_stderr, print_document
from aitbc_infra.summary import RECORDS_ENV, outcomes, read_records, run_results, summary_text

SITE = "deploys/site.py"

# The pyinfra releases whose `--dry --json` was read for what the dry run's exit status rests
# on: without -y, pyinfra_cli/cli.py computes each operation's change before answering, and
# prints.py's build_plan_json names the hosts each would change (an early form of --json forced
# -y, and with it a plan naming no host: no drift ever). A unit test fails on any other release.
CHECKED_PYINFRA = ("3.9.2",)


def pyinfra_command(inventory: Path, *extra: str, deploy: str = SITE) -> list[str]:
    """pyinfra answering in JSON on stdout, its log on stderr. A real run also takes -y: no
    prompt, and no change detection before the run (each operation's commands are computed
    once, as it runs). A dry run must not: -y turns that detection off, and the plan a dry run
    answers with (each operation and the hosts it would change) would name no host. Without
    -y, --json answers a dry run with that plan instead of prompting (CHECKED_PYINFRA)."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    mode = ["--json"] if "--dry" in extra else ["-y", "--json"]
    return [str(pyinfra), *mode, *extra, str(inventory), deploy]


@dataclass
class PyinfraRun:
    returncode: int
    results: dict  # aitbc_infra.summary.run_results: pyinfra's JSON, its log, the deploy's records


def execute(inventory: Path, *extra: str, deploy: str = SITE,
            message: str | None = None, keep_rollbacks: bool = False) -> PyinfraRun:
    """Run pyinfra from the project root, so group_data/ and deploys/ resolve; its log is shown
    as it comes and kept, with its JSON and what deploys/site.py recorded of each host.
    `message` is the run's, for each host's deploy history and its lock (checked already);
    `keep_rollbacks`: leave each app a rollback put on a kept release there."""
    command = pyinfra_command(inventory, *extra, deploy=deploy)
    with tempfile.TemporaryDirectory(prefix="aitbc-deploy-") as tmp:
        records = Path(tmp) / "records.jsonl"
        env = {**os.environ, RECORDS_ENV: str(records)}
        if message is not None:
            env[MESSAGE_ENV] = message
        if keep_rollbacks:
            env[KEEP_ROLLBACKS_ENV] = "1"
        # The JSON lands in a file: a pipe nobody reads while the log streams could fill and block.
        with tempfile.TemporaryFile("w+", dir=tmp) as out:
            proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.PIPE,
                                    text=True, env=env)
            log = []
            for line in proc.stderr:  # pyinfra's log: shown as it comes, kept for the summary
                sys.stderr.write(line)
                log.append(line)
            proc.wait()
            out.seek(0)
            results = run_results(out.read(), "".join(log), read_records(records))
    return PyinfraRun(proc.returncode, results)


def run_pyinfra(inventory: Path, *extra: str, deploy: str = SITE) -> int:
    """Run the deploy and end with one line per host; pyinfra's own exit status."""
    run = execute(inventory, *extra, deploy=deploy)
    print(summary_text(run.results), flush=True)
    return run.returncode


# Site by site -------------------------------------------------------------------------------


def serial_sites(fleet: Fleet) -> list[SiteRun]:
    """Every site, in the inventory's order, with its hosts ({pyinfra's name: node}); none run."""
    return [SiteRun(site, {fleet.hosts[node].name: node for node in nodes})
            for site, nodes in fleet.sites().items()]


def limit_arguments(fleet: Fleet, hosts: list[str]) -> list[str]:
    """pyinfra's `--limit NAME` for each host. pyinfra reads a limit as a group's name first,
    then as a pattern of host names: each must select that one host, or the run would reach
    others than the site's (refused, naming the host, before anything connects)."""
    groups = {"all", *(g for spec in fleet.hosts.values() for g in spec.groups)}
    names = [spec.name for spec in fleet.hosts.values()]
    for name in hosts:
        if name in groups:
            raise UserError(f"host {name}: its name is also a group's, which `pyinfra --limit "
                            f"{name}` would take: rename the host or the group to deploy "
                            "site by site")
        if [other for other in names if fnmatchcase(other, name)] != [name]:
            raise UserError(f"host {name}: `pyinfra --limit {name}` would select other hosts "
                            "as well: rename it to deploy site by site")
    return [arg for name in hosts for arg in ("--limit", name)]


def run_serial(inventory: Path, fleet: Fleet, *extra: str, dry: bool,
               message: str | None = None, keep_rollbacks: bool = False) -> list[SiteRun]:
    """Each site's own run, in order, until one fails: every site, those after it unattempted."""
    sites = serial_sites(fleet)
    limits = [limit_arguments(fleet, list(site.hosts)) for site in sites]  # all, before any run
    for number, (site, limit) in enumerate(zip(sites, limits, strict=True), 1):
        print(f"\n--> Site {site.site} ({number} of {len(sites)}): {', '.join(site.hosts)}",
              file=sys.stderr, flush=True)
        run = execute(inventory, *extra, *limit, message=message, keep_rollbacks=keep_rollbacks)
        print(summary_text(run.results), flush=True)
        site.returncode, site.rows = run.returncode, outcomes(run.results)
        if site.status(dry) == FAILED:
            break
    return sites


def cmd_serial(args: argparse.Namespace, extra: list[str], message: str | None) -> int:
    with logs_to_stderr(args.json):
        fleet = load_with_sources(args.inventory)
        sites = run_serial(args.inventory, fleet, *extra, dry=args.dry, message=message,
                           keep_rollbacks=args.keep_rollbacks)
        print(serial_summary(sites, args.dry), flush=True)
    if not args.json:
        return serial_status(sites, args.dry)
    report = document([], dry=args.dry, returncode=0, inventory=str(args.inventory), sites=sites)
    print_document(report)
    return report["exit_code"]


def cmd_deploy(args: argparse.Namespace) -> int:
    # The message and the operator are a person's words: refused before anything is loaded.
    message = run_message(args.message)
    operator()
    extra = ["--dry"] if args.dry else []
    if args.diff:
        extra.append("--diff")
    if args.serial:
        return cmd_serial(args, extra, message)
    with logs_to_stderr(args.json):
        load_with_sources(args.inventory)
        run = execute(args.inventory, *extra, message=message, keep_rollbacks=args.keep_rollbacks)
        print(summary_text(run.results), flush=True)
    if not args.json:
        return exit_status(run.returncode, outcomes(run.results), args.dry)
    report = document(outcomes(run.results), dry=args.dry, returncode=run.returncode,
                      inventory=str(args.inventory))
    print_document(report)
    return report["exit_code"]


def register_deploy(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser(
        "deploy", help="converge every host of an inventory (pyinfra deploys/site.py)",
        description="Validate the inventory, then run `pyinfra -y INVENTORY deploys/site.py` from the "
        "project root and end with one line per host: converged, or what failed (with --dry: "
        "whether anything would change, and what). Exit status: 0 converged (with --dry: "
        "nothing would change on any host); 3 with --dry only: something would change on some "
        "host (an operation would run, or a restart, reload, release step or certificate is "
        "owed); 1 a host failed (the others still converge) or the run stopped, e.g. a release "
        "step (a migration) that failed, named with its exit status, its release never live; 2 "
        "bad input, nothing connected to. With --json: one JSON document on stdout "
        "(schemas/deploy.json), every log line on stderr. Each host keeps a line for every run "
        "that is not --dry (`aitbc-infra history`). An app `aitbc-infra rollback` put on a "
        "kept release is drift: the run says so and puts the data's release back (candidate, "
        "cutover, health gate), unless --keep-rollbacks. With --serial: one site at a time (a "
        "wan-facing host and the containers behind it, in the inventory's order), each its own "
        "pyinfra run, stopping at the first site that fails; the later sites are not connected "
        "to, and the summary says which sites converged, which failed and which were not "
        "attempted. New firewall rules stay only once the run reaches their host again over a "
        "new SSH connection: otherwise that host fails, named, and puts the previous rules "
        "back by itself within its firewall.confirm_seconds.")
    add_inventory_option(deploy)
    deploy.add_argument("--message", "-m", metavar="TEXT",
                        help="why this run: kept in each host's deploy history, and named to a "
                        f"deploy that finds the lock held (one line, at most {MESSAGE_MAX} "
                        f"characters; default: ${MESSAGE_ENV}). The operator is ${OPERATOR_ENV}, "
                        "else USER@HOSTNAME")
    deploy.add_argument("--dry", action="store_true",
                        help="show what would change, change nothing; exit 3 when anything would")
    deploy.add_argument("--diff", action="store_true", help="with --dry: show file diffs")
    deploy.add_argument("--serial", action="store_true",
                        help="one site at a time, in the inventory's order (at1 and its "
                        "container, then ns3-root and its own): stop at the first site that "
                        "fails, leaving the later ones untouched (with --dry: each site's plan)")
    deploy.add_argument("--keep-rollbacks", action="store_true",
                        help="leave each app `aitbc-infra rollback` put on a kept release on "
                        "that release, and say so (default: put the data's release back); "
                        f"a plain pyinfra run: {KEEP_ROLLBACKS_ENV}=1")
    deploy.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout: per host its operations, what "
                        "changed, the decision (restarts, reloads and why) and its result")
    deploy.set_defaults(func=cmd_deploy)
