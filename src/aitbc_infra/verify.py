"""`aitbc-infra verify`: the testinfra suite of tests/verify/ against any inventory.

Which hosts, ports, units and routes are checked comes from the model, never from a list.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.inventory_option import add_inventory_option, load_or_explain

SUITE = PROJECT_ROOT / "tests" / "verify"


def run_verify(inventory: Path, junit_xml: Path | None = None, *pytest_args: str) -> int:
    env = {**os.environ, "AITBC_VERIFY_INVENTORY": str(Path(inventory).resolve())}
    cmd = [sys.executable, "-m", "pytest", str(SUITE), "-v", "-p", "no:cacheprovider",
           "-o", "console_output_style=classic", "--rootdir", str(SUITE)]
    if junit_xml:
        cmd += [f"--junitxml={junit_xml}"]
    return subprocess.run([*cmd, *pytest_args], env=env, cwd=PROJECT_ROOT).returncode


def cmd_verify(args: argparse.Namespace) -> int:
    load_or_explain(args.inventory)
    code = run_verify(args.inventory, args.junit_xml, *(["-x"] if args.exitfirst else []))
    return 1 if code else 0


def register_verify(sub: argparse._SubParsersAction) -> None:
    verify = sub.add_parser(
        "verify", help="check deployed hosts against the model (testinfra)",
        description="Per host: systemd running (no failed unit), packages, users, units active "
        "and enabled, ports on their declared addresses, env files root 0600, nginx -t, "
        "firehol forwards, every route through the public proxy, the TLS certificate, chain "
        "heads and sync, health endpoints; every managed file, directory and link as planned "
        "(content, mode, owner, link target), nothing owed by an unfinished deploy, each unit and "
        "nginx running the files on disk. One line per check, grouped by host; exit 1 on any "
        "failure.")
    add_inventory_option(verify)
    verify.add_argument("--junit-xml", type=Path, help="also write a JUnit XML report")
    verify.add_argument("--exitfirst", "-x", action="store_true", help="stop at the first failure")
    verify.set_defaults(func=cmd_verify)
