"""Running the deploy: pyinfra over an inventory, and the sandbox's one-command rollout."""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from aitbc_infra import PROJECT_ROOT

SITE = "deploys/site.py"
SANDBOX_URL = "https://aitbc.bubuit.net/"


def pyinfra_command(inventory: Path, *extra: str) -> list[str]:
    """A real run answers in JSON on stdout (its log goes to stderr); a dry run in pyinfra's
    own words, the change report it exists for."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    # -y skips the confirmation prompt, and with it the change report a dry run exists for.
    mode = [] if "--dry" in extra else ["-y", "--json"]
    return [str(pyinfra), *mode, *extra, str(inventory), SITE]


def run_pyinfra(inventory: Path, *extra: str) -> int:
    """Run the deploy from the project root, so group_data/ and deploys/ resolve; end a real
    run with one line per host."""
    from aitbc_infra.summary import run_results, summary_text

    command = pyinfra_command(inventory, *extra)
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


def ensure_sandbox_secrets(path: Path, names: list[str]) -> None:
    """Random values for the sandbox, made once, outside git, readable by root only."""
    existing = path.read_text().splitlines() if path.exists() else []
    have = {line.split("=", 1)[0] for line in existing if "=" in line}
    added = [f"{name}={secrets.token_urlsafe(24)}" for name in names if name not in have]
    if added or not path.exists():
        path.write_text("\n".join(["# sandbox secrets (generated)", *existing[1:], *added]) + "\n")
    path.chmod(0o600)


def write_sandbox_secrets(path: Path) -> None:
    """Every secret name the production model declares, with a random sandbox value."""
    from aitbc_infra.loader import load_fleet

    fleet = load_fleet(PROJECT_ROOT / "inventory.py")
    ensure_sandbox_secrets(path, sorted({s for h in fleet.hosts.values() for a in h.apps
                                         for s in a.all_secrets}))


def cmd_deploy(args: argparse.Namespace) -> int:
    from aitbc_infra.commands import load_with_sources

    load_with_sources(args.inventory)
    extra = ["--dry"] if args.dry else []
    if args.diff:
        extra.append("--diff")
    return run_pyinfra(args.inventory, *extra)


def register_deploy(sub: argparse._SubParsersAction) -> None:
    from aitbc_infra.commands import _inventory_arg

    deploy = sub.add_parser(
        "deploy", help="converge every host of an inventory (pyinfra deploys/site.py)",
        description="Validate the inventory, then run `pyinfra -y INVENTORY deploys/site.py` "
        "from the project root and end with one line per host: converged, or what failed. "
        "Exit status is pyinfra's: 1 when any host failed (the others still converge).")
    _inventory_arg(deploy)
    deploy.add_argument("--dry", action="store_true", help="show what would change, change nothing")
    deploy.add_argument("--diff", action="store_true", help="with --dry: show file diffs")
    deploy.set_defaults(func=cmd_deploy)


def sandbox_deploy(args: argparse.Namespace) -> int:
    from aitbc_infra.health import health_table, print_table
    from aitbc_infra.loader import load_fleet
    from aitbc_infra.sandbox import ensure_up, paths

    inventory = ensure_up()
    p = paths()
    print(f"[deploy] pyinfra {inventory} {SITE}", flush=True)
    code = run_pyinfra(inventory)
    if code != 0:
        print(f"[deploy] pyinfra failed (exit {code}): see the failing host and operation above",
              file=sys.stderr)
        return code
    rows = health_table(load_fleet(inventory))
    print_table(rows)
    print(f"\nOpen {SANDBOX_URL} (aitbc.bubuit.net resolves to 10.231.0.2 inside the sandbox):\n"
          f"  curl --cacert {p.pebble_root} --resolve aitbc.bubuit.net:443:10.231.0.2 "
          f"{SANDBOX_URL}health\n"
          f"  aitbc-infra sandbox ssh aitbc      # a shell in the container\n"
          f"  aitbc-infra sandbox status         # the fleet")
    return 0 if all(r.ok for r in rows) else 1
