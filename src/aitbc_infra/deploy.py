"""`aitbc-infra deploy`: pyinfra's run of deploys/site.py over an inventory, ending with one line
per host (converged, or what failed)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.inventory_option import add_inventory_option, load_with_sources
from aitbc_infra.summary import run_results, summary_text

SITE = "deploys/site.py"


def pyinfra_command(inventory: Path, *extra: str, deploy: str = SITE) -> list[str]:
    """A real run answers in JSON on stdout (its log goes to stderr); a dry run in pyinfra's
    own words, the change report it exists for."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    # -y skips the confirmation prompt, and with it the change report a dry run exists for.
    mode = [] if "--dry" in extra else ["-y", "--json"]
    return [str(pyinfra), *mode, *extra, str(inventory), deploy]


def run_pyinfra(inventory: Path, *extra: str, deploy: str = SITE) -> int:
    """Run the deploy from the project root, so group_data/ and deploys/ resolve; end a real
    run with one line per host."""
    command = pyinfra_command(inventory, *extra, deploy=deploy)
    if "--json" not in command:
        return subprocess.run(command, cwd=PROJECT_ROOT).returncode
    # The JSON lands in a file: a pipe nobody reads while the log streams could fill and block.
    with tempfile.TemporaryFile("w+") as results:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=results,
                                stderr=subprocess.PIPE, text=True)
        log = []
        for line in proc.stderr:  # pyinfra's log: shown as it comes, kept for the summary
            sys.stderr.write(line)
            log.append(line)
        proc.wait()
        results.seek(0)
        print(summary_text(run_results(results.read(), "".join(log))), flush=True)
    return proc.returncode


def cmd_deploy(args: argparse.Namespace) -> int:
    load_with_sources(args.inventory)
    extra = ["--dry"] if args.dry else []
    if args.diff:
        extra.append("--diff")
    return run_pyinfra(args.inventory, *extra)


def register_deploy(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser(
        "deploy", help="converge every host of an inventory (pyinfra deploys/site.py)",
        description="Validate the inventory, then run `pyinfra -y INVENTORY deploys/site.py` "
        "from the project root and end with one line per host: converged, or what failed. "
        "Exit status is pyinfra's: 1 when any host failed (the others still converge).")
    add_inventory_option(deploy)
    deploy.add_argument("--dry", action="store_true", help="show what would change, change nothing")
    deploy.add_argument("--diff", action="store_true", help="with --dry: show file diffs")
    deploy.set_defaults(func=cmd_deploy)
