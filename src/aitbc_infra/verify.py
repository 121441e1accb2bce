"""`aitbc-infra verify`: the testinfra suite of tests/verify/ against any inventory.

Which hosts, ports, units and routes are checked comes from the model, never from a list.
With --json, pytest's lines go to stderr and stdout holds one document (aitbc_infra/verify_report.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.inventory_option import add_inventory_option, load_or_explain
from aitbc_infra.json_output import print_document
from aitbc_infra.verify_report import PLUGIN, REPORT_ENV, verify_document

SUITE = PROJECT_ROOT / "tests" / "verify"

# A with-block giving the name of a network namespace outside the fleet: the sandbox's
# (aitbc_infra.sandbox.outside_view), handed in by whoever verifies a sandbox fleet.
OutsideView = Callable[[], AbstractContextManager[str]]


def run_verify(inventory: Path, junit_xml: Path | None = None, *pytest_args: str,
               outside_netns: str | None = None, report: Path | None = None) -> int:
    """The suite's exit status. With `report`, each check's outcome is written there as JSON
    and pytest's own lines go to stderr, leaving stdout to the document made of it."""
    env = {**os.environ, "AITBC_VERIFY_INVENTORY": str(Path(inventory).resolve())}
    if outside_netns:
        env["AITBC_VERIFY_OUTSIDE_NETNS"] = outside_netns
    cmd = [sys.executable, "-m", "pytest", str(SUITE), "-v", "-p", "no:cacheprovider",
           "-o", "console_output_style=classic", "--rootdir", str(SUITE)]
    if junit_xml:
        cmd += [f"--junitxml={junit_xml}"]
    if report:
        env[REPORT_ENV] = str(report)
        cmd += ["-p", PLUGIN]
    stdout = 2 if report else None  # this process's stderr (fd 2), whatever sys.stderr is now
    return subprocess.run([*cmd, *pytest_args], env=env, cwd=PROJECT_ROOT, stdout=stdout).returncode


def verify_fleet(inventory: Path, *pytest_args: str, junit_xml: Path | None = None,
                 outside_view: OutsideView | None = None, report: Path | None = None) -> int:
    """The suite; for the sandbox, its outside view from a machine on the sandbox's wan,
    `outside_view` (this machine is on that wan too, but routes to no container: an attacker
    would)."""
    fleet = load_or_explain(inventory)
    if any(h.deploy_environment == "sandbox" for h in fleet.hosts.values()):
        if outside_view is None:
            raise ValueError(f"{inventory}: a sandbox fleet is verified from its outside view, "
                             "and none was given")
        with outside_view() as netns:
            return run_verify(inventory, junit_xml, *pytest_args, outside_netns=netns, report=report)
    return run_verify(inventory, junit_xml, *pytest_args, report=report)


def cmd_verify(args: argparse.Namespace, outside_view: OutsideView | None = None) -> int:
    pytest_args = ["-x"] if args.exitfirst else []
    if not args.json:
        code = verify_fleet(args.inventory, *pytest_args, junit_xml=args.junit_xml,
                            outside_view=outside_view)
        return 1 if code else 0
    with tempfile.TemporaryDirectory(prefix="aitbc-verify-") as tmp:
        report = Path(tmp) / "checks.json"
        code = verify_fleet(args.inventory, *pytest_args, junit_xml=args.junit_xml,
                            outside_view=outside_view, report=report)
        checks = json.loads(report.read_text()) if report.exists() else None
    document = verify_document(checks, code, str(args.inventory))
    print_document(document)
    return document["exit_code"]


def register_verify(sub: argparse._SubParsersAction,
                    outside_view: OutsideView | None = None) -> None:
    """`verify`, seeing a sandbox fleet through `outside_view` (cli.py hands in the sandbox's)."""
    verify = sub.add_parser(
        "verify", help="check deployed hosts against the model (testinfra)",
        description="Per host: systemd running (no failed unit), packages, users, groups, each "
        "unit's writable paths, supplementary groups and umask, units active and enabled, ports "
        "on their declared addresses, env files root 0600, nginx -t, "
        "firehol forwards, chain heads and sync, health endpoints; every managed file, "
        "directory and link as planned (content, mode, owner, link target), nothing owed by "
        "an unfinished deploy, each unit, nginx and sshd running the files on disk. From "
        "outside (for the sandbox: a network namespace on its wan): each public address "
        "answers exactly the ports open to any address, no container answers, unknown names "
        "get no page, no redirect to a client's Host, every route a user opens answers as "
        "declared, security headers, TLS certificates. From the hosts: forwards answer the "
        "sources they admit. One line per check, grouped by host; exit 1 on any failure, 2 on "
        "bad input. With --json: one JSON document on stdout (schemas/verify.json), pytest's "
        "lines on stderr.")
    add_inventory_option(verify)
    verify.add_argument("--junit-xml", type=Path, help="also write a JUnit XML report")
    verify.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout: totals, per host, every check "
                        "with its outcome and, when it failed, its message")
    verify.add_argument("--exitfirst", "-x", action="store_true", help="stop at the first failure")
    verify.set_defaults(func=functools.partial(cmd_verify, outside_view=outside_view))
