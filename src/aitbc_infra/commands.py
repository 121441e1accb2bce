"""Offline subcommands: render, check, docs. None of them connects to any host."""

from __future__ import annotations

import argparse
import sys
from ipaddress import ip_network
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.checks import run_all
from aitbc_infra.docs import DOCS_FILE, render_docs
from aitbc_infra.errors import UserError
from aitbc_infra.exposure import describe, exposures
from aitbc_infra.fleet import ModelError
from aitbc_infra.inventory_option import (
    DEFAULT_INVENTORY,
    add_inventory_option,
    load_or_explain,
    load_with_sources,
)
from aitbc_infra.render import render_fleet, write_tree
from aitbc_infra.secrets import check_secrets


def cmd_render(args: argparse.Namespace) -> int:
    fleet = load_or_explain(args.inventory)
    if args.out.exists() and any(args.out.iterdir()) and not args.force:
        raise UserError(f"{args.out} is not empty (use --force to write into it)")
    try:
        rendered = render_fleet(fleet)
        rows = write_tree(rendered, args.out)
    except (ModelError, ValueError) as exc:
        raise UserError(f"{args.inventory}: {exc}") from None
    print(f"{'host':<12} {'files':>5} {'bytes':>8}")
    for node, count, size in rows:
        print(f"{node:<12} {count:>5} {size:>8}")
    print(f"wrote {sum(r[1] for r in rows)} files under {args.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    fleet = load_with_sources(args.inventory)
    roots = sorted({str(h.app_sources) for h in fleet.hosts.values()})
    print(f"ok    model: {len(fleet.hosts)} hosts validated; sources in {', '.join(roots)}")
    secrets = check_secrets(fleet)
    failures = int(not secrets.ok)
    print(f"{'ok  ' if secrets.ok else 'FAIL'}  secrets: " + secrets.detail.replace("\n", "\n      "))
    for node, files in render_fleet(fleet).items():
        for result in run_all(fleet.hosts[node], files):
            failures += not result.ok
            if not result.ok or args.verbose:
                mark = "ok  " if result.ok else "FAIL"
                print(f"{mark}  {node}: {result.check}" + (f"\n      {result.detail}"
                                                          if result.detail else ""))
    # Not a failure: what the data opens to the world, listed on every run so nobody has to
    # go looking for it.
    for exposure in exposures(fleet):
        if exposure.to_any:
            print(f"open  {describe(exposure)}")
        elif any(ip_network(s).network_address.is_loopback for s in exposure.sources or ()):
            # No packet from the wan carries a loopback source: the rule admits nobody (the
            # document names at1 "localhost"; its real address belongs in the inventory).
            print(f"warn  {describe(exposure)}: a loopback source, no packet from the wan has it")
    docs = PROJECT_ROOT / DOCS_FILE
    if args.inventory.resolve() == DEFAULT_INVENTORY.resolve():
        fresh = docs.exists() and docs.read_text() == render_docs(fleet)
        failures += not fresh
        print(("ok  " if fresh else "FAIL") + f"  docs: {DOCS_FILE} "
              + ("is current" if fresh else "is stale: run `aitbc-infra docs`"))
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}")
    return 1 if failures else 0


def cmd_docs(args: argparse.Namespace) -> int:
    fleet = load_or_explain(args.inventory)
    target = PROJECT_ROOT / DOCS_FILE
    text = render_docs(fleet)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    changed = not target.exists() or target.read_text() != text
    target.write_text(text)
    print(f"{'updated' if changed else 'unchanged'}: {target}")
    return 0


def register_offline(sub: argparse._SubParsersAction) -> None:
    render = sub.add_parser("render", help="render every host's files into a directory",
                            description="Validate the inventory, then write DIR/<host>/<path> "
                            "for every managed file. Secrets are written as placeholders.")
    add_inventory_option(render)
    render.add_argument("--out", "-o", type=Path, required=True, help="output directory")
    render.add_argument("--force", action="store_true", help="write into a non-empty directory")
    render.set_defaults(func=cmd_render)

    check = sub.add_parser("check", help="validate the model and every rendered file offline",
                           description="Model validation; every app source present, safe to "
                           "read and buildable for its host (packages, requirements files and "
                           "their editable lines, trees, import roots, the scripts, files and "
                           "routes the deploy will run and serve); crossplane parse, nginx -t, "
                           "gixy-next and systemd-analyze verify on the rendered files, each sshd "
                           "drop-in's keywords and values; the secret values given here (one "
                           "line each, none two sites share by accident, each key pair's key "
                           "deriving to its address); docs freshness.")
    add_inventory_option(check)
    check.add_argument("--verbose", "-v", action="store_true", help="list passing checks too")
    check.set_defaults(func=cmd_check)

    docs = sub.add_parser("docs", help="regenerate docs/infrastructure.md from the model",
                          description="Write the tables (hosts, exposure, routes, services, "
                          "releases, sources, SSH) and the topology diagram (Mermaid) as "
                          "Markdown.")
    add_inventory_option(docs)
    docs.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    docs.set_defaults(func=cmd_docs)
